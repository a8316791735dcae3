"""Patches that fill moto 5.2.5's gaps for carveout (each patch and why it exists: docs/design.md, section 6).

Each module has an `apply()` that is idempotent and a test in emulator/tests/.
"""

from . import (amis, encryption, executions, hosted_zones, instance_settings, instances, kms, marketplace,
               network_limits, peering, quotas, ram, registration, security_groups, target_health,
               volume_initialization)

# Order matters where patches wrap the same moto method. RunInstances runs outermost first:
# encryption, instances (ClientToken replay, image visibility, type checks), quotas (vCPUs),
# marketplace (subscription), moto. So a replayed ClientToken answers the first launch
# before any quota is counted again. encryption wraps what amis and instances patched;
# instance_settings wraps encryption (it hands the image's volumes down as block device
# mappings, which encryption then encrypts by device): keep them last, in this order.
ALL = [amis, hosted_zones, security_groups, ram, marketplace, quotas, instances, peering, network_limits, target_health,
       registration, kms,
       executions, encryption, instance_settings, volume_initialization]


def apply_all() -> None:
    for patch in ALL:
        patch.apply()
