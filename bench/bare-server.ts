// The baseline: a bare node:http server answering with the same JSON as the API, doing nothing
// else (no auth, no database). A request to one of the listed paths answers that path's file;
// any other request answers the task file, whatever its path (a GET of any task id, a POST).
// Run: node bin/run-ts.js bench/bare-server.ts <port> <task-json-file> [<path>=<json-file>…]
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';

const [portText, taskFile, ...pathFiles] = process.argv.slice(2);
const task = readFileSync(taskFile as string, 'utf8');
const bodies = new Map(pathFiles.map((pair) => {
  const [path, file] = pair.split('=') as [string, string];
  return [path, readFileSync(file, 'utf8')];
}));

createServer((request, response) => {
  const answer = bodies.get(request.url ?? '') ?? task;
  if (request.method === 'POST') {
    let body = '';
    request.setEncoding('utf8');
    request.on('data', (chunk: string) => (body += chunk));
    request.on('end', () => {
      JSON.parse(body);
      response.writeHead(201, { 'content-type': 'application/json; charset=utf-8' });
      response.end(answer);
    });
    return;
  }
  response.writeHead(200, { 'content-type': 'application/json; charset=utf-8' });
  response.end(answer);
}).listen(Number(portText), '127.0.0.1', () => process.stdout.write('bare server ready\n'));
