from typing import Any, Iterator


def other_backends(backend: Any, backends: Any) -> Iterator[Any]:
    """The same service's backends of every other account, in the caller's region.

    moto keeps one backend per (account, region); cross-account visibility is ours to add.
    """
    for account_id in list(backends.keys()):
        if account_id == backend.account_id:
            continue
        regional = backends[account_id]
        if backend.region_name in regional:
            yield regional[backend.region_name]


def once(module: Any) -> bool:
    """True the first time a patch module is applied, False afterwards."""
    if getattr(module, "_carveout_applied", False):
        return False
    module._carveout_applied = True
    return True
