"""Programs built in one module: each knows the others, and a change to any of them is a new build of all."""

import dataclasses
import hashlib
import json

from tessera.localinfra.goprograms import GoProgram, built_together

OPERATOR = GoProgram(name="operator", module="example.com/scaler", version="v1.0.0", package="example.com/scaler/cmd")
AGENT = GoProgram(name="agent", module="example.com/mesh", version="v0.0.0-1", package="example.com/mesh/agent")


def test_each_program_of_a_group_is_built_with_the_others_and_not_with_itself() -> None:
    operator, agent = built_together(OPERATOR, AGENT)
    assert operator.companions == (AGENT,) and agent.companions == (OPERATOR,)
    assert (operator.name, operator.package) == (OPERATOR.name, OPERATOR.package)


def test_a_program_built_in_a_group_is_another_build_than_on_its_own() -> None:
    operator, _ = built_together(OPERATOR, AGENT)
    assert operator.target() != OPERATOR.target()


def test_a_companion_at_another_version_is_a_new_build() -> None:
    """Its requirements may raise a shared library's version, so the cached program is not the one it would give."""
    operator, _ = built_together(OPERATOR, AGENT)
    newer, _ = built_together(OPERATOR, dataclasses.replace(AGENT, version="v0.0.0-2"))
    assert newer.target() != operator.target()
    again, _ = built_together(OPERATOR, AGENT)
    assert again.target() == operator.target()


def test_a_program_alone_keeps_its_cache_key() -> None:
    """Programs built on their own before groups existed (FerretDB, Jaeger, Flagger ...) are not built again: their
    key is still the digest of what they are made of, nothing more."""
    made_of = [OPERATOR.module, OPERATOR.version, OPERATOR.package, OPERATOR.tags, OPERATOR.stamps, OPERATOR.generated]
    key = hashlib.sha256(json.dumps(made_of, sort_keys=True).encode()).hexdigest()[:10]
    assert OPERATOR.target().name == f"operator-v1.0.0-{key}"
