// The baseline: a bare node:http server answering with the same JSON as the API, doing nothing
// else (no auth, no database). Run: node bin/run-ts.js bench/bare-server.ts <port> <task-json-file>
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';

const [portText, taskFile] = process.argv.slice(2);
const task = readFileSync(taskFile as string, 'utf8');

createServer((request, response) => {
  if (request.method === 'POST') {
    let body = '';
    request.setEncoding('utf8');
    request.on('data', (chunk: string) => (body += chunk));
    request.on('end', () => {
      JSON.parse(body);
      response.writeHead(201, { 'content-type': 'application/json; charset=utf-8' });
      response.end(task);
    });
    return;
  }
  response.writeHead(200, { 'content-type': 'application/json; charset=utf-8' });
  response.end(task);
}).listen(Number(portText), '127.0.0.1', () => process.stdout.write('bare server ready\n'));
