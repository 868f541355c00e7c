// How a kind's request bodies are decoded beyond JSON: for custom resources
// (pruning by their CRD's schema) and for CustomResourceDefinitions (typed
// decoding), the server must know which fields a body carried that the kind
// does not have, to honour fieldValidation. Kinds without a decoder keep
// every field (the built-in kinds, for now).
import type { KindSpec, KubeObject } from '../kinds.ts';

export interface BodyDecoder {
  /** Decodes `obj` in place as the kind's storage would (prunes, defaults) and returns the unknown fields it dropped; throws a 400 on a body the kind cannot hold. */
  decode(obj: KubeObject): string[];
}

const decoders = new WeakMap<KindSpec, BodyDecoder>();

export function setDecoder(spec: KindSpec, decoder: BodyDecoder): void {
  decoders.set(spec, decoder);
}

export function decoderOf(spec: KindSpec): BodyDecoder | undefined {
  return decoders.get(spec);
}
