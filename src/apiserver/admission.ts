// The pipeline's admission stage. Handlers call it where the real server
// calls validating admission: on create after defaulting and validation
// (the kind's validate, where schema validation of custom resources belongs)
// but before the AlreadyExists check, on update after the resourceVersion
// check and the same validation, on delete after preconditions. Plugins reject by throwing an ApiError (or
// rejecting); a handler whose write raced another write during admission
// recomputes it and asks again, as the real server's retry loop does.
import { then, type Awaitable } from './awaitable.ts';
import type { UserInfo } from './authentication.ts';
import type { KindSpec, KubeObject } from './kinds.ts';

export type AdmissionOperation = 'CREATE' | 'UPDATE' | 'DELETE';

/** What is being admitted. */
export interface AdmissionAttributes {
  readonly operation: AdmissionOperation;
  readonly spec: KindSpec;
  readonly subresource?: string;
  readonly name: string;
  readonly namespace?: string;
  readonly object?: KubeObject;
  readonly oldObject?: KubeObject;
  /** CreateOptions, UpdateOptions or DeleteOptions, as AdmissionReview carries them. */
  readonly options?: Record<string, unknown>;
  readonly user: UserInfo;
  /** Passes a warning back to the client (a `Warning` header on the answer, allowed or not). */
  readonly warn?: (text: string) => void;
}

/** A validating admission plugin. Synchronous unless it must wait (a webhook call). */
export interface AdmissionPlugin {
  readonly name: string;
  validate(a: AdmissionAttributes): Awaitable<void>;
}

/** Runs plugins in order; the first rejection is the answer. */
export function admissionChain(plugins: readonly AdmissionPlugin[]): (a: AdmissionAttributes) => Awaitable<void> {
  return (a) => {
    let done: Awaitable<void> = undefined;
    for (const p of plugins) done = then(done, () => p.validate(a));
    return done;
  };
}
