/** The API could not listen on `HOST`:`PORT`; the message names the address and the variable to change. */
export class ListenError extends Error {
  override name = 'ListenError';
}

/**
 * A `ListenError` for the listen failures an operator fixes with the port's variable (`PORT`, or
 * `RIVYA_METRICS_PORT` for the metrics listener) or HOST; any other error as it is.
 */
export function listenFailure(error: unknown, host: string, port: number, portVariable = 'PORT'): unknown {
  switch ((error as NodeJS.ErrnoException | null)?.code) {
    case 'EADDRINUSE':
      return new ListenError(`Port ${port} (on ${host}) is in use by another process: stop it, or set ${portVariable} to a free port.`, { cause: error });
    case 'EACCES':
      return new ListenError(`Port ${port} (on ${host}) needs privileges this process does not have: set ${portVariable} to 1024 or above.`, { cause: error });
    case 'EADDRNOTAVAIL':
    case 'ENOTFOUND':
      return new ListenError(`HOST ${host} is not an address of this machine: set HOST to one (0.0.0.0 listens on every interface).`, { cause: error });
    default:
      return error;
  }
}
