"""carveout's local AWS emulator: moto in server mode plus a small patch module.

moto is pinned in ../requirements.txt; every patch here reaches into moto internals of
that exact version, and `check_moto_version()` refuses to start on any other.
"""

PINNED_MOTO_VERSION = "5.2.5"


def check_moto_version() -> None:
    import moto

    if moto.__version__ != PINNED_MOTO_VERSION:
        raise SystemExit(
            f"carveout emulator patches are written for moto {PINNED_MOTO_VERSION}, "
            f"found {moto.__version__}; reinstall with `make setup`"
        )
