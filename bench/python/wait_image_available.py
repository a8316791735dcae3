"""Reference: carveout's WaitImageAvailable step written the usual way in Python with
boto3, for the cold-start comparison in bench/coldstart.py. Same input (the workflow
state), same calls (STS AssumeRole into the source account, DescribeImages), same answers
(the image with its snapshots, or the error CarveOut.NotReady / CarveOut.ResourceFailed).

Like a Lambda Python function: clients made at import (init), one handler. The small
Runtime API loop at the bottom stands in for the managed Python runtime (awslambdaric), so
both languages are measured the same way: process start to first /next, and to the
first answer.
"""

import json
import os
import urllib.request

import boto3

STS = boto3.client("sts")


class NotReady(Exception):
    pass


class ResourceFailed(Exception):
    pass


NotReady.__name__ = "CarveOut.NotReady"
ResourceFailed.__name__ = "CarveOut.ResourceFailed"


def source_ec2(state):
    plan = state["plan"]
    account = plan["source"]["accountId"]
    role = f"arn:aws:iam::{account}:role/{plan['roleName']}"
    creds = STS.assume_role(RoleArn=role, RoleSessionName=f"carveout-{plan['migrationId']}")["Credentials"]
    return boto3.client(
        "ec2",
        region_name=plan["region"],
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )


def handler(event, _context):
    image = event["image"]
    images = source_ec2(event).describe_images(ImageIds=[image["imageId"]])["Images"]
    if not images:
        raise ResourceFailed(f"image {image['imageId']}: it no longer exists")
    state = images[0]["State"]
    if state == "pending":
        raise NotReady(f"image {image['imageId']}: pending")
    if state != "available":
        raise ResourceFailed(f"image {image['imageId']}: {state}")
    snapshots = [m["Ebs"]["SnapshotId"] for m in images[0].get("BlockDeviceMappings", []) if "Ebs" in m]
    return {**image, "snapshotIds": snapshots}


def main():
    api = f"http://{os.environ['AWS_LAMBDA_RUNTIME_API']}/2018-06-01/runtime/invocation"
    while True:
        with urllib.request.urlopen(f"{api}/next") as r:
            request_id = r.headers["Lambda-Runtime-Aws-Request-Id"]
            event = json.loads(r.read())
        try:
            body, path = json.dumps(handler(event, None)).encode(), "response"
        except Exception as err:  # noqa: BLE001 - reported to the runtime like Lambda does
            body, path = json.dumps({"errorType": type(err).__name__, "errorMessage": str(err)}).encode(), "error"
        urllib.request.urlopen(urllib.request.Request(f"{api}/{request_id}/{path}", data=body, method="POST")).read()


if __name__ == "__main__":
    main()
