import { test } from 'node:test';
import assert from 'node:assert/strict';
import { kubeResource, kubeVerb } from './api-metrics.ts';

test("verbs are the API server's: GET of a name is get, of a collection list; DELETE of a collection deletecollection", () => {
  const cases: Array<[string, string, string]> = [
    ['GET', '/api/v1/namespaces/default/pods/web-0', 'get'],
    ['GET', '/api/v1/namespaces/default/pods', 'list'],
    ['GET', '/api/v1/pods', 'list'],
    ['GET', '/api/v1/nodes/n1', 'get'],
    ['GET', '/api/v1/namespaces/team-a', 'get'],
    ['GET', '/apis/tidepool.dev/v1alpha1/ippools', 'list'],
    ['POST', '/apis/tidepool.dev/v1alpha1/ipallocations', 'create'],
    ['PUT', '/apis/tidepool.dev/v1alpha1/ipallocations/lan.10.6.0.10', 'update'],
    ['PATCH', '/apis/tidepool.dev/v1alpha1/ippools/lan/status', 'patch'],
    ['DELETE', '/api/v1/namespaces/default/pods/web-0', 'delete'],
    ['DELETE', '/api/v1/namespaces/default/pods', 'deletecollection'],
    ['WATCH', '/api/v1/pods', 'watch'],
  ];
  for (const [method, path, verb] of cases) assert.equal(kubeVerb(method, path), verb, `${method} ${path}`);
});

test('resources leave out names and namespaces; subresources are kept; a group root is discovery', () => {
  const cases: Array<[string, string]> = [
    ['/api/v1/namespaces/default/pods/web-0', 'pods'],
    ['/api/v1/pods', 'pods'],
    ['/api/v1/namespaces', 'namespaces'],
    ['/api/v1/namespaces/team-a', 'namespaces'],
    ['/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/tidepool-controller', 'leases'],
    ['/apis/tidepool.dev/v1alpha1/ippools/lan/status', 'ippools/status'],
    ['/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/tidepool', 'validatingwebhookconfigurations'],
    ['/apis/kubevirt.io/v1', 'discovery'],
    ['/api/v1/pods?labelSelector=a%3Db', 'pods'],
  ];
  for (const [path, resource] of cases) assert.equal(kubeResource(path), resource, path);
});
