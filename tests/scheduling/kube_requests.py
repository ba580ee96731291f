"""Extender request bodies exactly as kube-scheduler (Go, encoding/json) sends them.

ExtenderArgs has no JSON tags, so its keys are the Go field names (``Pod``, ``Nodes``,
``NodeNames``); the pod and nodes are full ``v1.Pod`` / ``v1.Node`` objects with their own
lower-case JSON names, ``null`` for the form not used, ``{}`` for empty structs. The pod
below is what kube-scheduler holds for a Deployment's pod right before binding.
"""

from __future__ import annotations

import json
from typing import Any

POD = r"""{
  "metadata": {
    "name": "web-7d4b9c9f7-x2k8p",
    "generateName": "web-7d4b9c9f7-",
    "namespace": "shop",
    "uid": "8e2c5d3a-6a53-4c1e-9b7a-0c5c2d0e9f11",
    "resourceVersion": "4412087",
    "creationTimestamp": "2024-03-05T01:59:12Z",
    "labels": {"app": "web", "pod-template-hash": "7d4b9c9f7"},
    "ownerReferences": [
      {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-7d4b9c9f7",
       "uid": "5f0c1b8e-1f6a-4b0e-8d5b-6a1f3f2c7e90", "controller": true, "blockOwnerDeletion": true}
    ],
    "managedFields": [
      {"manager": "kube-controller-manager", "operation": "Update", "apiVersion": "v1",
       "time": "2024-03-05T01:59:12Z", "fieldsType": "FieldsV1",
       "fieldsV1": {"f:metadata": {"f:generateName": {}, "f:labels": {".": {}, "f:app": {}}}}}
    ]
  },
  "spec": {
    "volumes": [
      {"name": "kube-api-access-7xq2d", "projected": {"sources": [
        {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
        {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}}
      ], "defaultMode": 420}}
    ],
    "initContainers": [
      {"name": "migrate", "image": "shop/migrate:1.4",
       "resources": {"limits": {"cpu": "2", "memory": "1Gi"}, "requests": {"cpu": "1500m", "memory": "512Mi"}},
       "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File",
       "imagePullPolicy": "IfNotPresent"}
    ],
    "containers": [
      {"name": "app", "image": "shop/web:2.7.1",
       "ports": [{"containerPort": 8080, "protocol": "TCP"}],
       "resources": {"limits": {"cpu": "1", "memory": "512Mi"}, "requests": {"cpu": "250m", "memory": "256Mi"}},
       "volumeMounts": [{"name": "kube-api-access-7xq2d", "readOnly": true,
                         "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}],
       "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File",
       "imagePullPolicy": "IfNotPresent"},
      {"name": "proxy", "image": "envoyproxy/envoy:v1.29.2",
       "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}},
       "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File",
       "imagePullPolicy": "IfNotPresent"}
    ],
    "restartPolicy": "Always",
    "terminationGracePeriodSeconds": 30,
    "dnsPolicy": "ClusterFirst",
    "serviceAccountName": "default",
    "serviceAccount": "default",
    "securityContext": {},
    "schedulerName": "default-scheduler",
    "tolerations": [
      {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
      {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}
    ],
    "priority": 0,
    "enableServiceLinks": true,
    "preemptionPolicy": "PreemptLowerPriority"
  },
  "status": {"phase": "Pending", "qosClass": "Burstable"}
}"""

DAEMONSET_POD = r"""{
  "metadata": {
    "name": "node-exporter-9wz4q", "generateName": "node-exporter-", "namespace": "monitoring",
    "uid": "0d9f3c1e-7b2a-4e6f-8c1d-2a3b4c5d6e7f", "resourceVersion": "4412101",
    "creationTimestamp": "2024-03-05T02:00:01Z",
    "labels": {"app.kubernetes.io/name": "node-exporter", "controller-revision-hash": "6c8d9f7b5"},
    "ownerReferences": [
      {"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "node-exporter",
       "uid": "3e4f5a6b-7c8d-4e9f-a0b1-c2d3e4f5a6b7", "controller": true, "blockOwnerDeletion": true}
    ]
  },
  "spec": {
    "containers": [
      {"name": "node-exporter", "image": "quay.io/prometheus/node-exporter:v1.7.0",
       "resources": {"limits": {"cpu": "250m", "memory": "180Mi"}, "requests": {"cpu": "100m", "memory": "180Mi"}},
       "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File",
       "imagePullPolicy": "IfNotPresent"}
    ],
    "restartPolicy": "Always", "terminationGracePeriodSeconds": 30, "dnsPolicy": "ClusterFirst",
    "serviceAccountName": "node-exporter", "serviceAccount": "node-exporter", "hostNetwork": true,
    "securityContext": {}, "schedulerName": "default-scheduler",
    "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
      {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["node-b"]}]}]}}},
    "tolerations": [{"operator": "Exists"}],
    "priority": 0, "enableServiceLinks": true, "preemptionPolicy": "PreemptLowerPriority"
  },
  "status": {"phase": "Pending", "qosClass": "Burstable"}
}"""


def node(name: str, ip: str) -> str:
    """A v1.Node as kube-scheduler sends it in the Nodes form (no TypeMeta)."""
    return f"""{{
  "metadata": {{
    "name": "{name}", "uid": "b1c2d3e4-{name}", "resourceVersion": "4411990",
    "creationTimestamp": "2024-01-10T08:00:00Z",
    "labels": {{"kubernetes.io/hostname": "{name}", "kubernetes.io/os": "linux",
                "node.kubernetes.io/instance-type": "m6i.xlarge"}},
    "annotations": {{"node.alpha.kubernetes.io/ttl": "0"}}
  }},
  "spec": {{"podCIDR": "10.244.1.0/24", "podCIDRs": ["10.244.1.0/24"]}},
  "status": {{
    "capacity": {{"cpu": "4", "memory": "16094672Ki", "pods": "110"}},
    "allocatable": {{"cpu": "4", "memory": "15992272Ki", "pods": "110"}},
    "conditions": [{{"type": "Ready", "status": "True", "lastHeartbeatTime": "2024-03-05T01:58:00Z",
                     "lastTransitionTime": "2024-01-10T08:01:00Z", "reason": "KubeletReady",
                     "message": "kubelet is posting ready status"}}],
    "addresses": [{{"type": "InternalIP", "address": "{ip}"}}, {{"type": "Hostname", "address": "{name}"}}],
    "daemonEndpoints": {{"kubeletEndpoint": {{"Port": 10250}}}},
    "nodeInfo": {{"machineID": "", "systemUUID": "", "bootID": "", "kernelVersion": "6.1.0",
                  "osImage": "Debian GNU/Linux 12", "containerRuntimeVersion": "containerd://1.7.13",
                  "kubeletVersion": "v1.29.2", "kubeProxyVersion": "v1.29.2",
                  "operatingSystem": "linux", "architecture": "amd64"}}
  }}
}}"""


def names_form(names: list[str], pod: str = POD) -> bytes:
    """ExtenderArgs with nodeCacheCapable: true."""
    return f'{{"Pod":{pod},"Nodes":null,"NodeNames":{json.dumps(names)}}}'.encode()


def nodes_form(nodes: list[tuple[str, str]], pod: str = POD) -> bytes:
    """ExtenderArgs with nodeCacheCapable: false: a v1.NodeList without TypeMeta."""
    items = ",".join(node(name, ip) for name, ip in nodes)
    return f'{{"Pod":{pod},"Nodes":{{"metadata":{{}},"items":[{items}]}},"NodeNames":null}}'.encode()


def decode(body: bytes) -> Any:
    return json.loads(body)
