# What the official Python client (python3-kubernetes) does against the test
# API server, as a user of tidepool would: lists with selectors, watches
# (the client sends watch=True), custom objects (IPPools) created, listed,
# patched, watched and deleted, a strategic merge patch of a pod (the
# client's default for dicts) and Events. Prints one JSON document of what
# it saw; python-client.test.ts checks it.
import json
import sys

from kubernetes import client, config, watch

config.load_kube_config(config_file=sys.argv[1])
core = client.CoreV1Api()
custom = client.CustomObjectsApi()
GROUP, VERSION, PLURAL = 'tidepool.dev', 'v1alpha1', 'ippools'
seen = {}

seen['selected'] = [n.metadata.name for n in core.list_namespace(label_selector='kubernetes.io/metadata.name in (default,kube-system)').items]

# A namespace watch: the existing ones arrive as ADDED, then one created meanwhile.
events = []
w = watch.Watch()
for e in w.stream(core.list_namespace, timeout_seconds=10):
    events.append('%s %s' % (e['type'], e['object'].metadata.name))
    if len(events) == 4:
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name='py')))
    if len(events) == 5:
        w.stop()
seen['namespace_watch'] = events

pool = {'apiVersion': '%s/%s' % (GROUP, VERSION), 'kind': 'IPPool', 'metadata': {'name': 'py-pool', 'labels': {'team': 'py'}}, 'spec': {'subnet': '10.9.0.0/24'}}
custom.create_cluster_custom_object(GROUP, VERSION, PLURAL, pool)
seen['pools_selected'] = [p['metadata']['name'] for p in custom.list_cluster_custom_object(GROUP, VERSION, PLURAL, label_selector='team=py')['items']]
seen['pools_other'] = [p['metadata']['name'] for p in custom.list_cluster_custom_object(GROUP, VERSION, PLURAL, label_selector='team=other')['items']]
patched = custom.patch_cluster_custom_object(GROUP, VERSION, PLURAL, 'py-pool', {'spec': {'gateway': '10.9.0.1'}})
seen['patched_spec'] = patched['spec']
seen['pool_managers'] = [(m['manager'], m['operation']) for m in patched['metadata']['managedFields']]

# A custom object watch: the pool, then its deletion. The watch cache follows
# writes after a lag, so the patch may come as MODIFIED after the pool's ADDED.
events = []
w = watch.Watch()
for e in w.stream(custom.list_cluster_custom_object, GROUP, VERSION, PLURAL, label_selector='team=py', timeout_seconds=10):
    events.append('%s %s' % (e['type'], e['object']['metadata']['name']))
    if len(events) == 1:
        custom.delete_cluster_custom_object(GROUP, VERSION, PLURAL, 'py-pool')
    if e['type'] == 'DELETED':
        w.stop()
seen['pool_watch'] = events

pod = client.V1Pod(metadata=client.V1ObjectMeta(name='web'), spec=client.V1PodSpec(containers=[client.V1Container(name='app', image='app:1'), client.V1Container(name='side', image='side:1')]))
core.create_namespaced_pod('default', pod)
patched_pod = core.patch_namespaced_pod('web', 'default', {'spec': {'containers': [{'name': 'app', 'image': 'app:2'}]}})
seen['pod_images'] = [c.image for c in patched_pod.spec.containers]

event = client.CoreV1Event(metadata=client.V1ObjectMeta(name='web.1', namespace='default'), involved_object=client.V1ObjectReference(kind='Pod', name='web', namespace='default'), reason='Tested', message='from python', type='Normal')
core.create_namespaced_event('default', event)
seen['events'] = [e.reason for e in core.list_namespaced_event('default', field_selector='involvedObject.name=web').items]

print(json.dumps(seen))
