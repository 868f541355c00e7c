// A CustomResourceDefinition for the API server's own tests: Widget, in
// example.com/v1, namespaced, with a status subresource, printer columns and
// a schema using every keyword the server enforces. Tests change copies of it.
import type { Harness } from './test-helpers.ts';

export const WIDGETS = '/apis/example.com/v1/namespaces/default/widgets';
export const CRDS = '/apis/apiextensions.k8s.io/v1/customresourcedefinitions';

export function widgetCrd(): Record<string, any> {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: 'widgets.example.com' },
    spec: {
      group: 'example.com',
      names: { plural: 'widgets', singular: 'widget', kind: 'Widget', shortNames: ['wd'], categories: ['toys'] },
      scope: 'Namespaced',
      versions: [
        {
          name: 'v1',
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: [
            { name: 'Size', type: 'integer', jsonPath: '.spec.size' },
            { name: 'Color', type: 'string', jsonPath: '.spec.color', priority: 1, description: 'What it looks like.' },
            { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
          ],
          schema: {
            openAPIV3Schema: {
              type: 'object',
              properties: {
                spec: {
                  type: 'object',
                  required: ['size'],
                  properties: {
                    size: { type: 'integer', minimum: 1, maximum: 10 },
                    color: { type: 'string', enum: ['red', 'green'], default: 'red' },
                    name: { type: 'string', minLength: 2, maxLength: 5, pattern: '^[a-z]+$' },
                    tags: { type: 'array', items: { type: 'string' }, minItems: 1, maxItems: 2 },
                    routes: { type: 'array', items: { type: 'object', properties: { dst: { type: 'string' } } } },
                    port: { 'x-kubernetes-int-or-string': true },
                    note: { type: 'string', nullable: true },
                    extra: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true, properties: { kept: { type: 'object', properties: { a: { type: 'string' } } } } },
                    limits: { type: 'object', default: {}, properties: { cpu: { type: 'string', default: '1' } } },
                    address: { type: 'string', format: 'ipv4' },
                    labels: { type: 'object', additionalProperties: { type: 'string' } },
                  },
                },
                status: { type: 'object', properties: { ready: { type: 'integer', minimum: 0 } } },
              },
            },
          },
        },
      ],
    },
  };
}

export function widget(name: string, spec: Record<string, unknown>, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name }, spec, ...extra };
}

/** A request's answer: status, parsed body and the Warning header. */
export interface Reply {
  status: number;
  // Tests read Status and object fields freely.
  body: any;
  warnings: string | null;
}

/** Sends `body` as JSON (or as `contentType` says) to the harness's server. */
export async function call(h: Harness, method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<Reply> {
  const res = await fetch(h.server.url + path, { method, headers: { 'content-type': contentType }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  return { status: res.status, body: await res.json(), warnings: res.headers.get('warning') };
}
