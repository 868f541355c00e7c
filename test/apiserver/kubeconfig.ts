// A kubeconfig for the test API server, as kubectl and client-node read it.
import { stringify as stringifyYaml } from 'yaml';

export interface KubeconfigOptions {
  readonly server: string;
  /** The user section: `{ token }`, `{ tokenFile }`, `{ exec: {...} }`. */
  readonly user: Record<string, unknown>;
  /** PEM of the CA that signed the server's certificate; without it, TLS is not verified (client-node needs that even for http). */
  readonly caPem?: string;
}

export function kubeconfigText(o: KubeconfigOptions): string {
  const userYaml = stringifyYaml(o.user).trimEnd().split('\n').map((l) => `    ${l}`);
  const trust = o.caPem ? `    certificate-authority-data: ${Buffer.from(o.caPem).toString('base64')}` : '    insecure-skip-tls-verify: true';
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '- name: tidepool-fake',
    '  cluster:',
    `    server: ${o.server}`,
    trust,
    'users:',
    '- name: tidepool-fake',
    '  user:',
    ...userYaml,
    'contexts:',
    '- name: tidepool-fake',
    '  context:',
    '    cluster: tidepool-fake',
    '    user: tidepool-fake',
    '    namespace: default',
    'current-context: tidepool-fake',
    '',
  ].join('\n');
}
