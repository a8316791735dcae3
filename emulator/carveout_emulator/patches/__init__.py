"""Patches that fill moto 5.2.5's gaps for carveout (each patch and why it exists: docs/design.md, section 6).

Each module has an `apply()` that is idempotent and a test in emulator/tests/.
"""

from . import amis, encryption, instances, kms, peering, ram, registration, security_groups, target_health

# encryption wraps what amis and instances patched: keep it after them.
ALL = [amis, security_groups, ram, instances, peering, target_health, registration, kms, encryption]


def apply_all() -> None:
    for patch in ALL:
        patch.apply()
