"""Turns the RocketMQCluster CRD's openAPIV3Schema into a JSON Schema for check-jsonschema.

The API server prunes unknown fields silently; here every object with `properties` (and no
`additionalProperties` / preserve-unknown-fields) is closed, so a typo in an example file fails.
Usage: crd_to_jsonschema.py CRD.yaml OUT.json
"""
import json
import sys

import yaml


def close(node):
    if isinstance(node, dict):
        if node.get("type") == "object" and "properties" in node \
                and "additionalProperties" not in node \
                and not node.get("x-kubernetes-preserve-unknown-fields"):
            node["additionalProperties"] = False
        for v in node.values():
            close(v)
    elif isinstance(node, list):
        for v in node:
            close(v)


def main():
    crd_path, out_path = sys.argv[1], sys.argv[2]
    docs = [d for d in yaml.safe_load_all(open(crd_path)) if d]
    crd = next(d for d in docs if d.get("kind") == "CustomResourceDefinition")
    group = crd["spec"]["group"]
    kind = crd["spec"]["names"]["kind"]
    version = crd["spec"]["versions"][0]
    schema = version["schema"]["openAPIV3Schema"]
    close(schema)
    schema["$schema"] = "http://json-schema.org/draft-07/schema#"
    props = schema.setdefault("properties", {})
    props["apiVersion"] = {"const": f"{group}/{version['name']}"}
    props["kind"] = {"const": kind}
    props["metadata"] = {
        "type": "object",
        "required": ["name"],
        "properties": {"name": {"type": "string", "pattern": "^[a-z]([-a-z0-9]*[a-z0-9])?$", "maxLength": 40}},
    }
    schema["required"] = sorted(set(schema.get("required", [])) | {"apiVersion", "kind", "metadata", "spec"})
    json.dump(schema, open(out_path, "w"), indent=1)


if __name__ == "__main__":
    main()
