// What the real server's Go client says about a non-2xx answer from a
// webhook (client-go's transformResponse and NewGenericServerResponse): the
// answer's own message when it is a Status, else a fixed sentence per code,
// quoting the body only when it is text/plain.

const BY_CODE: Readonly<Record<number, string>> = {
  400: 'the server rejected our request for an unknown reason',
  401: 'the server has asked for the client to provide credentials',
  404: 'the server could not find the requested resource',
  405: 'the server does not allow this method on the requested resource',
  409: 'the server reported a conflict',
  422: 'the server rejected our request due to an error in our request',
  429: 'the server has received too many requests and has asked us to try again later',
  503: 'the server is currently unable to handle the request',
  504: 'the server was unable to return a response in the time allotted, but may still be processing the request',
};

export function genericServerError(code: number, body: string, contentType: string): string {
  try {
    const status = JSON.parse(body) as { kind?: unknown; message?: unknown };
    if (status.kind === 'Status' && typeof status.message === 'string' && status.message) return status.message;
  } catch {
    // Not JSON: the sentence for the code.
  }
  const served = contentType.startsWith('text/plain') ? body.trim().slice(0, 2048) : 'unknown';
  if (code === 403) return served;
  const fixed = BY_CODE[code];
  if (fixed) return fixed;
  if (code >= 500) return `an error on the server (${JSON.stringify(served)}) has prevented the request from succeeding`;
  return `the server responded with the status code ${code} but did not return more information`;
}
