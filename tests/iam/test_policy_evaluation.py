"""The IAM evaluation itself, on a small fixed recording (tests/iam/fixtures/recording.jsonl):
it allows what the member role allows, and denies when the role is mutated the way real
mistakes look (a tag key that differs from the code's, an action left out). The trust
policy admits carveout's function roles only."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import iam_eval
from iam_policies import ROOT, load_template

FIXTURE = Path(__file__).parent / "fixtures/recording.jsonl"
TARGET = "222222222222"


def _statement(template: dict[str, Any], sid: str) -> dict[str, Any]:
    for policy in template["Resources"]["ExecutionRole"]["Properties"]["Policies"]:
        for statement in policy["PolicyDocument"]["Statement"]:
            if statement.get("Sid") == sid:
                return statement
    raise AssertionError(f"no statement {sid} in templates/member-role.yaml")


def _member_template() -> dict[str, Any]:
    return copy.deepcopy(load_template(ROOT / "templates/member-role.yaml"))


def _denied(template: dict[str, Any] | None) -> list[iam_eval.Simulation]:
    result = iam_eval.evaluate(iam_eval.load_recording(FIXTURE), template)
    assert not result.unrepresentable, result.unrepresentable
    return result.denied


def test_fixed_recording_is_allowed_by_the_member_role():
    """An image and its snapshots tagged on create, a share of a tagged image, both RAM halves
    of the security-group share and the assume-role are all allowed by the template as it is."""
    denied = _denied(None)
    assert not denied, "\n".join(iam_eval.explain_denial(s) for s in denied)


def test_a_tag_key_differing_from_the_code_is_denied():
    """The create must carry the code's tag key (`aws:RequestTag/carveout:migration-id`): a
    policy naming another key denies CreateImage (the original fault was of this kind: a
    key the policy spelt differently from functions/src/names.rs)."""
    template = _member_template()
    statement = _statement(template, "CreateTaggedImage")
    statement["Condition"]["Null"] = {"aws:RequestTag/carveout:migrationid": "false"}
    denied = _denied(template)
    assert [(s.auth.action, s.auth.resource.split(":")[-1].split("/")[0]) for s in denied] == [
        ("ec2:CreateImage", "image")]
    assert "carveout:migrationid" in iam_eval.explain_denial(denied[0])


def test_tags_are_written_only_as_part_of_a_create():
    """CreateTags on an existing snapshot (tagging after the fact) is denied: a role that
    could tag what it did not create could tag any snapshot, then share or delete it."""
    records = iam_eval.load_recording(FIXTURE)
    create = next(r for r in records if r["action"] == "CreateImage")
    snapshot = next(c["snapshots"][0] for c in create["created"].values() if "snapshots" in c)
    later = {**copy.deepcopy(create), "action": "CreateTags", "created": {},
             "parameters": {"Action": "CreateTags", "ResourceId.1": snapshot,
                            "Tag.1.Key": "carveout:migration-id", "Tag.1.Value": "hp-2026-11"},
             "before": {snapshot: {"owner": create["account"], "region": create["region"], "tags": {},
                                   "encrypted": False, "kmsKeyId": None}}}
    denied = iam_eval.evaluate([later]).denied
    assert [s.auth.action for s in denied] == ["ec2:CreateTags"]


def test_an_action_left_out_is_denied():
    """Without ec2:ModifyImageAttribute the image share is denied, and only that."""
    template = _member_template()
    statement = _statement(template, "ShareAndRemoveOwnImages")
    statement["Action"] = [a for a in statement["Action"] if a != "ec2:ModifyImageAttribute"]
    denied = _denied(template)
    assert [s.auth.action for s in denied] == ["ec2:ModifyImageAttribute"]


def test_sharing_outside_the_organization_is_denied():
    """The RAM halves: external principals allowed (the only way to name an account outside
    the organization) or the whole organization as principal is denied, while the resource
    half alone never admits a principal."""
    records = iam_eval.load_recording(FIXTURE)
    share = next(r for r in records if r["service"] == "ram")
    outside = copy.deepcopy(share)
    outside["parameters"].update(principals=["999999999999"], allowExternalPrincipals=True)
    whole_org = copy.deepcopy(share)
    whole_org["parameters"]["principals"] = ["arn:aws:organizations::123456789012:organization/o-carveout1234"]
    result = iam_eval.evaluate([outside, whole_org])
    verdicts = {(s.auth.why, s.auth.context["ram:RequestedAllowsExternalPrincipals"]): s.verdict["result"]
                for s in result.simulations}
    assert verdicts[("principal 999999999999", "true")] != "Allowed"
    assert verdicts[("principal arn:aws:organizations::123456789012:organization/o-carveout1234", "false")] != "Allowed"
    resource_half = [v for (why, external), v in verdicts.items() if why.startswith("resource")]
    assert sorted(resource_half) == ["Allowed", "ImplicitlyDenied"]  # external=false allowed, true denied


def _assume(principal: str) -> str:
    sim = iam_eval.run([iam_eval.assume_role_simulation(principal, TARGET)])[0]
    return sim.verdict["result"]


def test_a_carveout_function_role_may_assume_the_member_role():
    assert _assume("arn:aws:iam::123456789012:role/carveout/PreflightFunction-abc") == "Allowed"


def test_another_role_of_the_workflow_account_may_not():
    assert _assume("arn:aws:iam::123456789012:role/Admin") != "Allowed"


def test_a_principal_outside_the_organization_may_not():
    assert _assume("arn:aws:iam::999999999999:role/carveout/PreflightFunction-abc") != "Allowed"


def test_the_organization_condition_is_what_refuses_a_workflow_role_outside_it():
    """A role at the trusted path and account, but whose account is in another organization:
    denied by aws:PrincipalOrgID alone (without that condition it would be allowed)."""
    principal = "arn:aws:iam::123456789012:role/carveout/PreflightFunction-abc"
    sim = iam_eval.assume_role_simulation(principal, TARGET, principal_org_id="o-someoneelse1")
    assert iam_eval.run([sim])[0].verdict["result"] != "Allowed"
    template = _member_template()
    trust = template["Resources"]["ExecutionRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]
    del trust["Condition"]["StringEquals"]
    sim = iam_eval.assume_role_simulation(principal, TARGET, template=template, principal_org_id="o-someoneelse1")
    assert iam_eval.run([sim])[0].verdict["result"] == "Allowed"


PASS_ROLE = Path(__file__).parent / "fixtures/pass_role.jsonl"


def test_passing_an_instance_role_needs_its_tag_and_ec2():
    """A launch with the instance profile the plan maps (tests/test_same_service.py) passes
    the profile's role: allowed for a role tagged carveout:instance-role=true and for EC2
    only, so carveout cannot hand any other role of the target account to an instance."""
    records = iam_eval.load_recording(PASS_ROLE)
    result = iam_eval.evaluate(records)
    assert not result.unrepresentable and not result.denied
    assert [s.auth.action for s in result.simulations].count("iam:PassRole") == 1
    untagged = copy.deepcopy(records)
    role = next(k for k in untagged[0]["before"] if ":role/" in k)
    untagged[0]["before"][role]["tags"] = {}
    denied = iam_eval.evaluate(untagged).denied
    assert [s.auth.action for s in denied] == ["iam:PassRole"]
    template = _member_template()
    _statement(template, "PassInstanceRoles")["Condition"]["StringEquals"]["iam:PassedToService"] = "lambda.amazonaws.com"
    assert [s.auth.action for s in _denied_of(records, template)] == ["iam:PassRole"]


def _denied_of(records, template):
    return iam_eval.evaluate(records, template).denied
