"""Every paginated answer in pages, as AWS may give it.

AWS: "An API operation can return fewer results than the maximum even when there are more
results available. You should check NextToken after every operation to ensure that you
receive all of the results" (the `maxResults` of RAM, Service Quotas and others; EC2:
https://docs.aws.amazon.com/AWSEC2/latest/APIReference/Query-Requests.html#api-pagination,
https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-pagination.html). moto answers most
lists whole, which hides code that reads only the first page.

Here, for each operation of OPERATIONS, an answer holds at most `min(pageSize, the request's
limit)` items (setting `pageSize`, control.py; 0 answers as moto does) and the operation's
continuation token while more remain. How: the request goes to moto without the client's
token and limit, moto's own pages (it pages a few lists itself) are followed to the end, and
the page is cut from that full list at the offset the token holds. The rest of moto's answer
is passed on byte for byte: only the list's items and the token element change.

Tokens are opaque (base64 of a listing id, an offset and a hash of the request's other
parameters). A token that does not decode, or comes back with other parameters, answers the
service's invalid-token error (ERRORS). The full list is kept for the listing's next pages
(a bounded cache), so one listing is one read of moto: the phases of control.py count a
listing once however many pages it has. A listing no longer cached is read again from moto.
A stale view (consistency.py) rewrites the page once it is cut: DescribeInstanceStatus's
may then hold fewer items, as AWS's may.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable, Iterable
from urllib.parse import parse_qsl, urlencode

from .control import CONTROL, Fault

# Each operation's API reference: GUIDES[service]/API_<Operation>.html (the rules below quote it).
GUIDES = {
    "ec2": "https://docs.aws.amazon.com/AWSEC2/latest/APIReference",
    "elasticloadbalancing": "https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference",
    "ram": "https://docs.aws.amazon.com/ram/latest/APIReference",
    "states": "https://docs.aws.amazon.com/step-functions/latest/apireference",
    "ssm": "https://docs.aws.amazon.com/systems-manager/latest/APIReference",
}


@dataclass(frozen=True)
class Op:
    """One paginated operation: how its request names the token and the page size, which
    list of its answer is paged, and when AWS answers it whole."""

    items: str  # XML list element (EC2: `reservationSet`; ELBv2: `Rules`) or JSON field
    token_in: str = "NextToken"
    token_out: str = "nextToken"
    limit: str = "MaxResults"
    # Request parameters (name prefixes) that AWS does not take with the limit: with one of
    # them the answer is whole, and with the limit too it is InvalidParameterCombination.
    whole_with: tuple[str, ...] = ()
    # The answer is whole unless the request gives the limit.
    paged_with_limit_only: bool = False
    # moto pages this list itself: the page size asked of it (its own tokens are followed).
    moto_limit: int | None = None


ELB = {"token_in": "Marker", "token_out": "NextMarker", "limit": "PageSize"}
RAM_SFN = {"token_in": "nextToken", "token_out": "nextToken", "limit": "maxResults"}

# Every operation carveout calls that AWS paginates (functions/src, cli/src), and RAM's
# ListResources: (credential scope, operation, rule).
TABLE = [
    # EC2: NextToken / MaxResults -> nextToken. DescribeInstances, DescribeInstanceStatus:
    # "You cannot specify this parameter and the instance IDs parameter in the same request."
    # moto pages reservations itself (100 a page).
    ("ec2", "DescribeInstances", Op("reservationSet", whole_with=("InstanceId.",), moto_limit=1000)),
    ("ec2", "DescribeInstanceStatus", Op("instanceStatusSet", whole_with=("InstanceId.",))),
    ("ec2", "DescribeImages", Op("imagesSet")),
    ("ec2", "DescribeSnapshots", Op("snapshotSet")),
    ("ec2", "DescribeVolumes", Op("volumeSet")),
    # "You cannot specify this parameter and the volume IDs parameter in the same request."
    ("ec2", "DescribeVolumeStatus", Op("volumeStatusSet", whole_with=("VolumeId.",))),
    ("ec2", "DescribeRouteTables", Op("routeTableSet")),
    # MaxResults: "If this parameter is not specified, then all items are returned."
    ("ec2", "DescribeSecurityGroups", Op("securityGroupInfo", paged_with_limit_only=True)),
    ("ec2", "DescribeSubnets", Op("subnetSet")),
    ("ec2", "DescribeVpcs", Op("vpcSet")),
    ("ec2", "DescribeVpcPeeringConnections", Op("vpcPeeringConnectionSet")),
    ("ec2", "DescribeInstanceTypes", Op("instanceTypeSet")),
    ("ec2", "DescribeInstanceTypeOfferings", Op("instanceTypeOfferingSet")),
    # ELBv2 (Version 2015-12-01): Marker / PageSize (1-400) -> NextMarker, with any other
    # parameter. moto pages rules and load balancers itself (50 a page).
    ("elasticloadbalancing", "DescribeRules", Op("Rules", **ELB, moto_limit=400)),
    ("elasticloadbalancing", "DescribeTargetGroups", Op("TargetGroups", **ELB)),
    ("elasticloadbalancing", "DescribeListeners", Op("Listeners", **ELB)),
    ("elasticloadbalancing", "DescribeLoadBalancers", Op("LoadBalancers", **ELB, moto_limit=400)),
    ("elasticloadbalancing", "DescribeAccountLimits", Op("Limits", **ELB)),
    # RAM: nextToken / maxResults (1-500); "Note that the service might return fewer results
    # than the maximum even when there are more results available."
    ("ram", "GetResourceShares", Op("resourceShares", **RAM_SFN)),
    ("ram", "GetResourceShareAssociations", Op("resourceShareAssociations", **RAM_SFN)),
    ("ram", "ListResources", Op("resources", **RAM_SFN)),
    # Step Functions: nextToken / maxResults (0 = the default 100, at most 1000); "This is
    # only an upper limit. The actual number of results returned per call might be fewer".
    # moto pages executions and state machines (100), patches/executions.py histories (100).
    ("states", "ListExecutions", Op("executions", **RAM_SFN, moto_limit=1000)),
    ("states", "ListStateMachines", Op("stateMachines", **RAM_SFN, moto_limit=1000)),
    ("states", "GetExecutionHistory", Op("events", **RAM_SFN, moto_limit=1000)),
    # SSM: NextToken / MaxResults (1-10) -> NextToken; moto pages it itself (10).
    ("ssm", "GetParametersByPath", Op("Parameters", token_out="NextToken", moto_limit=10)),
]
OPERATIONS = {(service, name.lower()): op for service, name, op in TABLE}
_ELB_VERSION = "2015-12-01"  # Classic ELB (2012-06-01) shares the scope and action names
_JSON_SERVICES = ("ram", "states", "ssm")

# The service's answer to a token it did not issue for this request.
ERRORS = {
    # "InvalidPaginationToken: The specified pagination token is not valid or is expired."
    # (common client errors, https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html)
    "ec2": ("InvalidPaginationToken", "The specified pagination token is not valid or is expired."),
    # ELBv2 has no token error of its own: ValidationError, "The input fails to satisfy the
    # constraints specified by an AWS service" (GUIDES["elasticloadbalancing"]/CommonErrors.html).
    "elasticloadbalancing": ("ValidationError", "The marker is not valid for this request."),
    "ram": ("InvalidNextTokenException", "The specified value for NextToken isn't valid."),
    "states": ("InvalidToken", "Invalid Token: the token does not belong to this request"),
    "ssm": ("InvalidNextToken", "The specified token isn't valid."),
}
# EC2 list parameter -> its name in AWS's InvalidParameterCombination message.
_WIRE_SET = {"InstanceId.": "instancesSet"}

Reply = tuple[str, list[tuple[str, str]], bytes]
ErrorReply = Callable[[str, Fault], Reply]


# -- requests -------------------------------------------------------------------------------

def _json_body(body: bytes) -> dict[str, Any]:
    try:
        value = json.loads(body or b"{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _params(service: str, environ: dict[str, Any], body: bytes) -> dict[str, Any]:
    if service in _JSON_SERVICES:
        return _json_body(body)
    pairs = parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    pairs += parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
    return dict(pairs)


def _without(params: dict[str, Any], *names: str) -> dict[str, Any]:
    return {k: v for k, v in params.items() if k not in names}


def _request_hash(action: str, params: dict[str, Any], op: Op) -> str:
    # The limit may change from page to page; everything else must stay as it was.
    rest = json.dumps([action, _without(params, op.token_in, op.limit)], sort_keys=True, default=str)
    return hashlib.sha256(rest.encode()).hexdigest()[:16]


def _rewrite(service: str, environ: dict[str, Any], op: Op, token: str | None) -> dict[str, Any]:
    """A copy of `environ` asking moto for the list from the start (or from moto's `token`),
    in moto's own pages (op.moto_limit) where it pages itself."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    stream = environ["wsgi.input"]
    body = stream.read(length) if length else b""
    stream.seek(0)
    extra = {op.limit: op.moto_limit} if op.moto_limit else {}
    if token:
        extra[op.token_in] = token
    new = dict(environ)
    if service in _JSON_SERVICES:
        body = json.dumps({**_without(_json_body(body), op.token_in, op.limit), **extra}).encode()
    else:
        query, form = ([(k, v) for k, v in parse_qsl(text, keep_blank_values=True) if k not in (op.token_in, op.limit)]
                       for text in (environ.get("QUERY_STRING", ""), body.decode("utf-8", "replace")))
        # SDKs post the form; a GET carries it in the query string.
        (form if body or not query else query).extend((k, str(v)) for k, v in extra.items())
        new["QUERY_STRING"], body = urlencode(query), urlencode(form).encode()
    new["wsgi.input"], new["CONTENT_LENGTH"] = io.BytesIO(body), str(len(body))
    return new


# -- answers ----------------------------------------------------------------------------------

_TAG = re.compile(r"<(/?)([A-Za-z_][\w.:-]*)[^>]*?(/?)>")


def _element(text: str, name: str, depth: int) -> tuple[int, int, int, int] | None:
    """(start, content start, content end, end) of the first element `name` at `depth`
    (the root is 0); content start == content end for `<name/>`."""
    level, opened = 0, None
    for m in _TAG.finditer(text):
        closing, tag, empty = m.group(1) == "/", m.group(2), m.group(3) == "/"
        if closing:
            level -= 1
            if opened is not None and level == depth and tag == name:
                return opened[0], opened[1], m.start(), m.end()
            continue
        if opened is None and level == depth and tag == name:
            if empty:
                return m.start(), m.end(), m.end(), m.end()
            opened = m.start(), m.end()
        if not empty:
            level += 1
    return None


def _children(text: str) -> list[str]:
    """The top-level elements of an XML fragment, each as written."""
    found, level, start = [], 0, 0
    for m in _TAG.finditer(text):
        closing, empty = m.group(1) == "/", m.group(3) == "/"
        if closing:
            level -= 1
            if level == 0:
                found.append(text[start:m.end()])
        elif empty:
            if level == 0:
                found.append(m.group(0))
        else:
            if level == 0:
                start = m.start()
            level += 1
    return found


@dataclass
class Listing:
    """One full list read from moto, and the answer around it, to cut pages from."""

    key: str  # the request hash its tokens carry
    status: str
    headers: list[tuple[str, str]]
    items: list[Any]
    head: str = ""  # XML: the answer up to the list's content
    tail: str = ""  # XML: from the list's closing tag on, without moto's token
    envelope: dict[str, Any] | None = None  # JSON: the answer without moto's token
    weight: int = 0  # bytes moto answered

    def render(self, op: Op, page: list[Any], token: str | None) -> bytes:
        if self.envelope is not None:
            answer = dict(self.envelope)
            answer[op.items] = page
            if token:
                answer[op.token_out] = token
            return json.dumps(answer).encode()
        close = self.tail.index(">") + 1
        mark = f"<{op.token_out}>{token}</{op.token_out}>" if token else ""
        return (self.head + "".join(page) + self.tail[:close] + mark + self.tail[close:]).encode()


def _parse(service: str, op: Op, answer: bytes) -> tuple[list[Any], str | None, Any] | None:
    """(items, moto's own token, the rest) of one moto answer, or None when it holds no
    such list (then it is passed on as it is)."""
    if service in _JSON_SERVICES:
        try:
            value = json.loads(answer)
        except ValueError:
            return None
        if not isinstance(value, dict) or not isinstance(value.get(op.items), list):
            return None
        rest = {k: v for k, v in value.items() if k != op.token_out}  # the items' place is kept
        return value[op.items], value.get(op.token_out), rest
    text = answer.decode("utf-8")
    depth = 1 if service == "ec2" else 2  # ELBv2 wraps its answer in <ActionResult>
    token_at = _element(text, op.token_out, depth)
    token = None
    if token_at is not None:
        token = text[token_at[1]:token_at[2]] or None
        text = text[:token_at[0]] + text[token_at[3]:]
    at = _element(text, op.items, depth)
    if at is None:
        return None
    start, inner, inner_end, end = at
    if inner == end:  # <items/>: written open so that pages can fill it
        head, tail = text[:start] + f"<{op.items}>", f"</{op.items}>" + text[end:]
    else:
        head, tail = text[:inner], text[inner_end:]
    return _children(text[inner:inner_end]), token, (head, tail)


# -- the listing cache and tokens -------------------------------------------------------------

class Listings:
    """Full lists by listing id, the most recently used (a listing's next pages read them),
    within a count and a size: a thousand instances are some 6 MB of moto's XML."""

    def __init__(self, count: int = 64, budget: int = 64 << 20) -> None:
        self.count, self.budget = count, budget
        self.lock = threading.Lock()
        self.kept: OrderedDict[str, Listing] = OrderedDict()

    def put(self, listing: Listing) -> str:
        lid = uuid.uuid4().hex[:12]
        with self.lock:
            self.kept[lid] = listing
            while len(self.kept) > 1 and (len(self.kept) > self.count
                                          or sum(k.weight for k in self.kept.values()) > self.budget):
                self.kept.popitem(last=False)
        return lid

    def get(self, lid: str, key: str) -> Listing | None:
        with self.lock:
            listing = self.kept.get(lid)
            if listing is not None:
                self.kept.move_to_end(lid)
        return listing if listing is not None and listing.key == key else None


LISTINGS = Listings()


def encode_token(lid: str, offset: int, key: str) -> str:
    raw = json.dumps({"l": lid, "o": offset, "h": key}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str) -> tuple[str, int, str] | None:
    try:
        mark = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        lid, offset, key = str(mark["l"]), int(mark["o"]), str(mark["h"])
    except (ValueError, KeyError, TypeError):  # binascii.Error is a ValueError
        return None
    return (lid, offset, key) if offset >= 0 else None


# -- the WSGI side ------------------------------------------------------------------------------

def _size(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def wrap(app: Callable[..., Iterable[bytes]], service: str, action: str, environ: dict[str, Any],
         body: bytes, error: ErrorReply) -> Callable[..., Iterable[bytes]]:
    """`app` (moto) as it answers this request: in pages where AWS pages it, else as is.
    `body` is the client's own request (the token's hash is of it)."""
    size = _size(CONTROL.phases.get("pageSize"))
    op = OPERATIONS.get((service, action))
    if size <= 0 or op is None:
        return app
    params = _params(service, environ, body)
    if service == "elasticloadbalancing" and params.get("Version") != _ELB_VERSION:
        return app
    asked = _size(params.get(op.limit))
    named = [p for p in op.whole_with if any(k.startswith(p) for k in params)]
    if named:
        if asked or op.limit in params:
            message = f"The parameter {_WIRE_SET.get(named[0], named[0])} cannot be used with the parameter maxResults"
            return _refusal(error(service, Fault(action, "InvalidParameterCombination", message, 400)))
        return app
    if op.paged_with_limit_only and op.limit not in params:
        return app
    limit = min(size, asked) if asked > 0 else size
    key = _request_hash(action, params, op)
    token = params.get(op.token_in)
    lid, offset = None, 0
    if token:
        mark = decode_token(str(token))
        if mark is None or mark[2] != key:
            return _refusal(error(service, Fault(action, *ERRORS[service], status=400)))
        lid, offset, _ = mark
    return Pager(app, service, op, key, limit, lid, offset)


def _refusal(reply: Reply) -> Callable[..., Iterable[bytes]]:
    def answer(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response(reply[0], reply[1] + [("Content-Length", str(len(reply[2])))])
        return [reply[2]]
    return answer


class Pager:
    """The WSGI app answering one page of a listing (first page: read from moto)."""

    def __init__(self, app: Callable[..., Iterable[bytes]], service: str, op: Op, key: str, limit: int,
                 lid: str | None, offset: int) -> None:
        self.app, self.service, self.op, self.key = app, service, op, key
        self.limit, self.lid, self.offset = limit, lid, offset

    def _moto(self, environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]], bytes]:
        captured: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            captured["status"], captured["headers"] = status, headers
            return lambda _data: None

        answer = b"".join(self.app(environ, capture))
        return captured["status"], captured["headers"], answer

    def _read(self, environ: dict[str, Any]) -> Listing | Reply:
        """The full list from moto, following moto's own pages; or moto's answer to pass on."""
        status, headers, answer = self._moto(_rewrite(self.service, environ, self.op, None))
        parsed = _parse(self.service, self.op, answer) if status.startswith("2") else None
        if parsed is None or not (parsed[0] or parsed[1]):  # an error, or nothing to page
            return status, headers, answer
        (items, moto_token, rest), weight = parsed, len(answer)
        seen: set[str] = set()
        while moto_token and moto_token not in seen:
            seen.add(moto_token)
            more = self._moto(_rewrite(self.service, environ, self.op, moto_token))
            again = _parse(self.service, self.op, more[2]) if more[0].startswith("2") else None
            if again is None:
                return more
            items, moto_token, weight = items + again[0], again[1], weight + len(more[2])
        kept = [(k, v) for k, v in headers if k.lower() != "content-length"]
        if isinstance(rest, dict):
            return Listing(self.key, status, kept, items, envelope=rest, weight=weight)
        return Listing(self.key, status, kept, items, head=rest[0], tail=rest[1], weight=weight)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        listing = LISTINGS.get(self.lid, self.key) if self.lid else None
        lid = self.lid
        if listing is None:
            read = self._read(environ)
            if not isinstance(read, Listing):
                status, headers, answer = read
                start_response(status, headers)
                return [answer]
            listing = read
            lid = LISTINGS.put(listing)
        end = self.offset + self.limit
        token = encode_token(lid or "", end, self.key) if end < len(listing.items) else None
        answer = listing.render(self.op, listing.items[self.offset:end], token)
        start_response(listing.status, listing.headers + [("Content-Length", str(len(answer)))])
        return [answer]
