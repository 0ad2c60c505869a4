/** The broker answered with an RFC 9457 problem (docs/API.md "Conventions"). */
export class BrokerError extends Error {
  /** The problem's `code` (`policy_denied`, `not_found`, …), or `http_<status>` when the body was not a problem. */
  readonly code: string;
  readonly status: number;
  readonly requestId?: string;
  readonly detail?: string;
  constructor(status: number, code: string, detail?: string, requestId?: string, title?: string) {
    super(`broker answered ${status} ${code}${detail ? `: ${detail}` : title ? `: ${title}` : ""}`);
    this.name = "BrokerError";
    this.status = status;
    this.code = code;
    this.detail = detail;
    this.requestId = requestId;
  }
}

/** The storage provider refused a part or a form upload, or could not be reached after every retry. */
export class UploadError extends Error {
  /** HTTP status of the provider's last answer; 0 for a network error or a timeout. */
  readonly status: number;
  readonly partNumber?: number;
  /** The start of the provider's answer (its XML/JSON error), for diagnostics. */
  readonly body?: string;
  constructor(message: string, status: number, partNumber?: number, body?: string) {
    super(message);
    this.name = "UploadError";
    this.status = status;
    this.partNumber = partNumber;
    this.body = body;
  }
}

/** What an upload cancelled through its `signal` rejects with (`name === "AbortError"`, like fetch). */
export function abortError(reason?: unknown): Error {
  if (reason instanceof Error && reason.name === "AbortError") return reason;
  const e = new Error(typeof reason === "string" ? reason : "the upload was aborted");
  e.name = "AbortError";
  return e;
}

/** A failure of the transport itself (connection refused or cut, timeout): always worth a retry. */
export class NetworkError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "NetworkError";
  }
}
