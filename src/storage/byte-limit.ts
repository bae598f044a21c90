import { Transform } from 'node:stream';
import { ObjectTooLargeError } from './port.js';

/** Counts the bytes going through, reporting the running total, and fails the stream past `maxBytes`. */
export function byteLimit(maxBytes: number | undefined, onBytes: (total: number) => void): Transform {
  let total = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      total += chunk.length;
      onBytes(total);
      if (maxBytes !== undefined && total > maxBytes) callback(new ObjectTooLargeError(maxBytes));
      else callback(null, chunk);
    },
  });
}
