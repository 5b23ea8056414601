"""deploy/: the KubeRay manifests validated against the KubeRay v1.7.0 CRD schemas (strictly: an unknown
field is an error, as `kubectl apply` with server-side field validation reports it), the cluster-launcher
YAML by Ray's own validator, and the placement contract: each role's custom resource comes from its
own worker group, and the job the manifests run fits the cluster they describe."""

import copy
import shlex

import jsonschema
import pytest
import yaml

from services.config import load_config
from services.resources import ResourceError, check, roles
from tests.conftest import ROOT, SHARED_DATA, require

DEPLOY = ROOT / "deploy"
SLOTS = {"learner": "learner_slot", "rollout": "rollout_slot", "reward": "reward_slot"}


def strict(schema):
    """The CRD's schema with unknown fields forbidden wherever it lists the fields."""
    schema = copy.deepcopy(schema)

    def walk(node):
        if isinstance(node, dict):
            if "properties" in node and "additionalProperties" not in node and not node.get("x-kubernetes-preserve-unknown-fields"):
                node["additionalProperties"] = False
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    return schema


def crd_validator(kind: str):
    crd = yaml.safe_load(require(SHARED_DATA / "kuberay" / f"ray.io_{kind}s.yaml").read_text())
    schema = next(v for v in crd["spec"]["versions"] if v["name"] == "v1")["schema"]["openAPIV3Schema"]
    return jsonschema.Draft7Validator(strict(schema))


def manifest(name: str) -> dict:
    return yaml.safe_load((DEPLOY / "kuberay" / name).read_text())


@pytest.mark.parametrize("name, kind", [("rayjob.yaml", "rayjob"), ("raycluster.yaml", "raycluster")])
def test_manifest_is_valid_for_the_crd(name, kind):
    doc = manifest(name)
    errors = sorted(crd_validator(kind).iter_errors(doc), key=str)
    assert not errors, "\n".join(f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in errors)
    assert doc["kind"] == {"rayjob": "RayJob", "raycluster": "RayCluster"}[kind] and doc["apiVersion"] == "ray.io/v1"


def test_the_validation_rejects_a_typo_and_a_wrong_type():
    doc = manifest("raycluster.yaml")
    typo = copy.deepcopy(doc)
    typo["spec"]["workerGroupSpecs"][0]["rayStartParam"] = typo["spec"]["workerGroupSpecs"][0].pop("rayStartParams")
    wrong = copy.deepcopy(doc)
    wrong["spec"]["workerGroupSpecs"][1]["maxReplicas"] = "sixteen"
    validator = crd_validator("raycluster")
    assert any("rayStartParam" in e.message for e in validator.iter_errors(typo))
    assert any("sixteen" in e.message for e in validator.iter_errors(wrong))


def cluster_spec(doc: dict) -> dict:
    return doc["spec"]["rayClusterSpec"] if doc["kind"] == "RayJob" else doc["spec"]


def test_rayjob_runs_the_raycluster_cluster_with_token_auth():
    job, cluster = manifest("rayjob.yaml"), manifest("raycluster.yaml")
    assert cluster_spec(job) == cluster_spec(cluster)  # one cluster definition, two ways to run it
    assert cluster_spec(cluster)["authOptions"]["mode"] == "token"
    groups = {g["groupName"]: g for g in cluster_spec(cluster)["workerGroupSpecs"]}
    assert set(groups) == set(SLOTS)
    for role, slot in SLOTS.items():  # each role's resource is provided by its own group only
        assert [name for name, g in groups.items() if slot in g.get("resources", {})] == [role]
    assert groups["rollout"]["maxReplicas"] > groups["rollout"]["minReplicas"]  # the pools scale independently
    assert groups["reward"]["maxReplicas"] > groups["reward"]["minReplicas"]


def test_runtime_env_ships_the_checkout_without_history_runs_or_caches():
    local = yaml.safe_load((DEPLOY / "runtime_env.yaml").read_text())
    job = yaml.safe_load(manifest("rayjob.yaml")["spec"]["runtimeEnvYAML"])
    for env in (local, job):
        assert {".git", "runs/", ".cache/"} <= set(env["excludes"])
    assert job["working_dir"].startswith("https://")


def group_nodes(spec: dict, most: bool) -> list[dict[str, float]]:
    """Each worker pod as Ray node resources (CPU and GPU from its limits, its group's custom resources)."""
    nodes = []
    for g in spec["workerGroupSpecs"]:
        limits = g["template"]["spec"]["containers"][0]["resources"]["limits"]
        node = {"CPU": float(limits["cpu"]), "GPU": float(limits.get("nvidia.com/gpu", 0)), **{k: float(v) for k, v in g["resources"].items()}}
        nodes += [node] * g["maxReplicas" if most else "replicas"]
    return nodes


def test_the_manifest_job_is_placed_by_worker_group_and_fits():
    job = manifest("rayjob.yaml")
    command = shlex.split(job["spec"]["entrypoint"])
    assert command[:2] == ["rlvr", "train"]
    cfg = load_config(ROOT / command[command.index("--config") + 1], command[command.index("--config") + 2 :], paths=False)
    by_role = {r.name: r for r in roles(cfg)}
    for role, slot in SLOTS.items():
        assert by_role[role].shape.get(slot) == 1.0, f"{role} actors must ask for {slot}"
    nodes = group_nodes(cluster_spec(job), most=True)
    totals = {k: sum(n.get(k, 0.0) for n in nodes) for k in {k for n in nodes for k in n}}
    check(cfg, totals, nodes, autoscaled=True)
    # more rollout workers than the rollout group can ever hold fails at once, naming the fields
    too_many = load_config(ROOT / "configs/paper_text_game.yaml", command[command.index("--config") + 2 :] + ["rollout.count=17"], paths=False)
    with pytest.raises(ResourceError, match=r"rollout.count=17 x rollout.resources.rollout_slot=1 = 17, but the cluster can autoscale to 16"):
        check(too_many, totals, nodes, autoscaled=True)


def launcher_config() -> dict:
    return yaml.safe_load((DEPLOY / "ray-cluster.yaml").read_text())


def test_cluster_launcher_yaml_passes_rays_validator():
    from ray.autoscaler._private.util import prepare_config, validate_config

    config = launcher_config()
    validate_config(prepare_config(copy.deepcopy(config)))
    typo = copy.deepcopy(config)
    typo["available_node_types"]["rollout"]["min_worker"] = 1
    with pytest.raises(jsonschema.ValidationError, match="min_worker"):
        validate_config(prepare_config(typo))


def test_cluster_launcher_places_roles_by_node_type_with_token_auth():
    config = launcher_config()
    types = config["available_node_types"]
    for role, slot in SLOTS.items():
        assert [name for name, t in types.items() if slot in t["resources"]] == [role]
    assert types["head"]["resources"] == {"CPU": 0}  # no actors on the head
    starts = config["head_start_ray_commands"] + config["worker_start_ray_commands"]
    assert all("RAY_AUTH_MODE=token" in c for c in starts if "ray start" in c)
    assert "~/.ray/auth_token" in config["file_mounts"]
    assert "--dashboard-host=127.0.0.1" in " ".join(config["head_start_ray_commands"])
