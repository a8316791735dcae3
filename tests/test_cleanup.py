"""`carveout cleanup`: after a failed migration everything it created goes (dry run first);
after a finished one only the leftovers go and the service keeps working. The source
instances and the original target group are never touched."""

import json

from carveout_emulator import verify
from carveout_emulator.seed import seed
from carveout_emulator.testing import ENDPOINT, POLLING, cli, client, configure, every, reset, run_local

N = "111111111111"


def snapshot(plan):
    elb, ec2 = client("elbv2", N), client("ec2", plan["source"]["accountId"])
    return {
        "listener": elb.describe_listeners(ListenerArns=[plan["service"]["listenerArn"]])["Listeners"][0]["DefaultActions"],
        "group": [h["Target"] for h in elb.describe_target_health(
            TargetGroupArn=plan["service"]["targetGroupArn"])["TargetHealthDescriptions"]],
        "sources": [(i["InstanceId"], i["State"]["Name"]) for r in ec2.describe_instances(
            InstanceIds=plan["source"]["instanceIds"])["Reservations"] for i in r["Instances"]],
    }


def test_cleanup_after_a_failed_migration_removes_everything_it_created(tmp_path):
    reset(**POLLING)
    plan = seed(ENDPOINT, ram=True)
    configure(faults=[{"action": "ModifyListener", "code": "ValidationError", "status": 400, "when": "before"}])
    code, _, _, _ = run_local(plan, tmp_path)
    assert code == 1
    before = snapshot(plan)
    created = verify.counts(verify.end_state(ENDPOINT, plan))
    assert created["instances"] == 1 and created["peerings"] == 1

    dry = cli("cleanup", "--plan", str(tmp_path / "plan.json"), "--endpoint", ENDPOINT)
    assert dry.returncode == 0 and "Would remove" in dry.stdout
    kinds = [line.split()[1] for line in dry.stdout.splitlines() if line.strip().startswith("remove")]
    assert kinds == ["target-group", "instance", "security-group", "ram-resource-share", "image", "snapshot",
                     "route", "route", "vpc-peering-connection"], dry.stdout
    assert verify.counts(verify.end_state(ENDPOINT, plan)) == created, "a dry run changed something"

    done = cli("cleanup", "--plan", str(tmp_path / "plan.json"), "--endpoint", ENDPOINT, "--apply")
    assert done.returncode == 0, done.stdout + done.stderr
    assert verify.counts(verify.end_state(ENDPOINT, plan)) == {
        "peerings": 0, "images": 0, "instances": 0, "securityGroups": 0, "targetGroups": 0, "rules": 5}
    assert snapshot(plan) == before, "cleanup touched the source, the original group or the listener"
    again = cli("cleanup", "--plan", str(tmp_path / "plan.json"), "--endpoint", ENDPOINT)
    assert "Nothing to remove" in again.stdout


def test_cleanup_after_a_finished_migration_keeps_what_serves_traffic(tmp_path):
    reset(**POLLING)
    plan = seed(ENDPOINT)
    code, out, _, err = run_local(plan, tmp_path)
    assert code == 0, err
    done = cli("cleanup", "--plan", str(tmp_path / "plan.json"), "--endpoint", ENDPOINT, "--apply")
    assert done.returncode == 0 and "is live" in done.stdout
    removed = [line.split()[1] for line in done.stdout.splitlines() if line.strip().startswith("removed")]
    assert removed == ["image", "snapshot"], done.stdout
    state = verify.end_state(ENDPOINT, plan)
    assert len(state["instances"]) == 1 and len(state["targetGroups"]) == 1 and len(state["peerings"]) == 1
    forwards = [a.get("TargetGroupArn") for a in state["actions"]]
    assert forwards == [out["targetGroupArn"]]
    health = client("elbv2", N).describe_target_health(TargetGroupArn=out["targetGroupArn"])["TargetHealthDescriptions"]
    assert [h["TargetHealth"]["State"] for h in health] == ["healthy"]


def test_cleanup_removes_an_images_snapshots_with_it_and_names_one_it_may_not_delete(tmp_path):
    """Snapshots are tagged on create (CreateImage and CopyImage TagSpecifications), and
    cleanup deregisters an image together with its snapshots (DeleteAssociatedSnapshots).
    EC2 deletes each with the caller's permission; the member role's DeleteSnapshot needs
    the migration tag, so a snapshot that lost it stays (`missing-permissions`, as the
    emulator answers carveout's sessions) and cleanup says so by id instead of succeeding."""
    reset(**POLLING)
    plan = seed(ENDPOINT)
    src = client("ec2", plan["source"]["accountId"])
    source = src.describe_instances(InstanceIds=plan["source"]["instanceIds"])["Reservations"][0]["Instances"][0]
    data = src.create_volume(AvailabilityZone=source["Placement"]["AvailabilityZone"], Size=10)["VolumeId"]
    src.attach_volume(VolumeId=data, InstanceId=source["InstanceId"], Device="/dev/sdf")  # two snapshots per image
    code, _, _, err = run_local(plan, tmp_path)
    assert code == 0, err
    tag = {"Name": "tag:carveout:migration-id", "Values": [plan["migrationId"]]}
    images = every(src, "describe_images", "Images", Owners=["self"], Filters=[tag])
    snaps = [m["Ebs"]["SnapshotId"] for i in images for m in i["BlockDeviceMappings"] if "Ebs" in m]
    assert images and len(snaps) >= 2, snaps
    tagged = every(src, "describe_snapshots", "Snapshots", SnapshotIds=snaps)
    assert all({"Key": "carveout:migration-id", "Value": plan["migrationId"]} in s.get("Tags", []) for s in tagged)
    untagged, deleted = snaps[0], snaps[1:]
    src.delete_tags(Resources=[untagged], Tags=[{"Key": "carveout:migration-id"}])
    done = cli("cleanup", "--plan", str(tmp_path / "plan.json"), "--endpoint", ENDPOINT, "--apply")
    assert done.returncode == 1, done.stdout + done.stderr
    assert untagged in done.stdout and "missing-permissions" in done.stdout, done.stdout
    left = {s["SnapshotId"] for s in every(src, "describe_snapshots", "Snapshots", OwnerIds=["self"])}
    assert untagged in left and not left & set(deleted), "the tagged snapshots go with their image"
    assert not every(src, "describe_images", "Images", Owners=["self"], Filters=[tag])
