// The Go types of apiextensions.k8s.io/v1 CustomResourceDefinition, as
// typed-decode.ts reads them: which fields exist and what JSON each accepts.
import { ANY, BOOL, FLOAT64, INT32, INT64, STRING, listOf, mapOf, type GoType } from './typed-decode.ts';

const struct = (go: string, fields: () => Readonly<Record<string, GoType>>): GoType => ({ k: 'struct', go: `v1.${go}`, fields });

const SCHEMA: GoType = struct('JSONSchemaProps', () => ({
  id: STRING,
  $schema: STRING,
  $ref: STRING,
  description: STRING,
  type: STRING,
  format: STRING,
  title: STRING,
  default: ANY,
  maximum: FLOAT64,
  exclusiveMaximum: BOOL,
  minimum: FLOAT64,
  exclusiveMinimum: BOOL,
  maxLength: INT64,
  minLength: INT64,
  pattern: STRING,
  maxItems: INT64,
  minItems: INT64,
  uniqueItems: BOOL,
  multipleOf: FLOAT64,
  enum: listOf(ANY),
  maxProperties: INT64,
  minProperties: INT64,
  required: listOf(STRING),
  items: { k: 'either', go: '*v1.JSONSchemaPropsOrArray', options: [SCHEMA, listOf(SCHEMA)] },
  allOf: listOf(SCHEMA),
  oneOf: listOf(SCHEMA),
  anyOf: listOf(SCHEMA),
  not: SCHEMA,
  properties: mapOf(SCHEMA),
  additionalProperties: { k: 'either', go: '*v1.JSONSchemaPropsOrBool', options: [BOOL, SCHEMA] },
  patternProperties: mapOf(SCHEMA),
  dependencies: mapOf(ANY),
  additionalItems: { k: 'either', go: '*v1.JSONSchemaPropsOrBool', options: [BOOL, SCHEMA] },
  definitions: mapOf(SCHEMA),
  externalDocs: struct('ExternalDocumentation', () => ({ description: STRING, url: STRING })),
  example: ANY,
  nullable: BOOL,
  'x-kubernetes-preserve-unknown-fields': BOOL,
  'x-kubernetes-embedded-resource': BOOL,
  'x-kubernetes-int-or-string': BOOL,
  'x-kubernetes-list-map-keys': listOf(STRING),
  'x-kubernetes-list-type': STRING,
  'x-kubernetes-map-type': STRING,
  'x-kubernetes-validations': listOf(
    struct('ValidationRule', () => ({ rule: STRING, message: STRING, messageExpression: STRING, reason: STRING, fieldPath: STRING, optionalOldSelf: BOOL })),
  ),
}));

const NAMES = struct('CustomResourceDefinitionNames', () => ({
  plural: STRING,
  singular: STRING,
  shortNames: listOf(STRING),
  kind: STRING,
  listKind: STRING,
  categories: listOf(STRING),
}));

const SERVICE = struct('ServiceReference', () => ({ namespace: STRING, name: STRING, path: STRING, port: INT32 }));

const VERSION = struct('CustomResourceDefinitionVersion', () => ({
  name: STRING,
  served: BOOL,
  storage: BOOL,
  deprecated: BOOL,
  deprecationWarning: STRING,
  schema: struct('CustomResourceValidation', () => ({ openAPIV3Schema: SCHEMA })),
  subresources: struct('CustomResourceSubresources', () => ({
    status: struct('CustomResourceSubresourceStatus', () => ({})),
    scale: struct('CustomResourceSubresourceScale', () => ({ specReplicasPath: STRING, statusReplicasPath: STRING, labelSelectorPath: STRING })),
  })),
  additionalPrinterColumns: listOf(
    struct('CustomResourceColumnDefinition', () => ({ name: STRING, type: STRING, format: STRING, description: STRING, priority: INT32, jsonPath: STRING })),
  ),
  selectableFields: listOf(struct('SelectableField', () => ({ jsonPath: STRING }))),
}));

/** The top-level fields of a CustomResourceDefinition other than apiVersion, kind and metadata. */
export const CRD_FIELDS: Readonly<Record<string, GoType>> = {
  spec: struct('CustomResourceDefinitionSpec', () => ({
    group: STRING,
    names: NAMES,
    scope: STRING,
    versions: listOf(VERSION),
    conversion: struct('CustomResourceConversion', () => ({
      strategy: STRING,
      webhook: struct('WebhookConversion', () => ({
        clientConfig: struct('WebhookClientConfig', () => ({ url: STRING, service: SERVICE, caBundle: STRING })),
        conversionReviewVersions: listOf(STRING),
      })),
    })),
    preserveUnknownFields: BOOL,
  })),
  status: struct('CustomResourceDefinitionStatus', () => ({
    conditions: listOf(
      struct('CustomResourceDefinitionCondition', () => ({ type: STRING, status: STRING, lastTransitionTime: STRING, reason: STRING, message: STRING, observedGeneration: INT64 })),
    ),
    acceptedNames: NAMES,
    storedVersions: listOf(STRING),
  })),
};
