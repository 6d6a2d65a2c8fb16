# Pants prelude (pants.toml: build_file_prelude_globs): the targets every service folder has, declared once.
# A service's BUILD file is one call, `tessera_service()`; its folder has the same shape as every other:
#   <name>/main.py            entry point (owned by //src/python/tessera:mains, so the local stack packages it)
#   <name>/*.py, adapters/, entrypoints/, migrations/*.sql, tests/test_*.py[_integration]

# One image per service, from the service's PEX (Pants puts it in the build context). Kept here rather than in a
# Dockerfile because a docker_image's Dockerfile must sit beside its target, in each service's folder.
# BASE_IMAGE: a public python:3.11-slim for users with a registry; any Debian-like image with CPython 3.11.
SERVICE_DOCKERFILE = """
ARG BASE_IMAGE=python:3.11-slim

FROM ${BASE_IMAGE} AS venv
ARG SERVICE
COPY src.python.tessera.${SERVICE}/${SERVICE}.pex /build/service.pex
# Unpack the PEX into a plain virtualenv with compiled bytecode: nothing is written at run time, so the root
# filesystem can be read-only.
RUN PEX_TOOLS=1 python3 /build/service.pex venv --compile --bin-path prepend /app

FROM ${BASE_IMAGE}
ARG SERVICE
COPY --from=venv /app /app
ENV PATH=/app/bin:$PATH \\
    PYTHONDONTWRITEBYTECODE=1 \\
    PYTHONUNBUFFERED=1 \\
    TESSERA_SERVICE_NAME=${SERVICE} \\
    TESSERA_GRPC_HOST=0.0.0.0 \\
    TESSERA_METRICS_PORT=9100
USER 10001:10001
EXPOSE 50051 9100 8080
ENTRYPOINT ["/app/pex"]
"""


def tessera_service(migrations=True, tests=True, fakes=True):
    """Its sources, PEX (`:<name>`), image (`:image`), SQL migrations and test batches, from the folder's name."""
    name = build_file_dir().name
    # The .sql files are read with importlib.resources, and the kit finds the migrations package by its name
    # (kit.service: beside the bootstrap): inference sees neither.
    migrations_package = f"{build_file_dir()}/migrations/__init__.py:../lib"
    sql = (
        {"migrations/__init__.py": {"dependencies": [":sql"]}, "bootstrap.py": {"dependencies": [migrations_package]}}
        if migrations
        else {}
    )
    python_sources(
        name="lib",
        sources=["**/*.py", "!main.py", "!tests/**"],
        overrides=sql,
    )
    if migrations:
        resources(name="sql", sources=["migrations/*.sql"])
    if tests:
        # The in-memory fakes of its ports (tests/fakes.py), shared by its use-case and contract tests.
        if fakes:
            python_test_utils(name="fakes", sources=["tests/fakes.py"])
        # Its unit tests share one test process too: a process (and its PEX) per file cost seconds each on a new
        # machine, for tests that take milliseconds.
        python_tests(
            name="unit",
            sources=["tests/test_*.py", "!tests/test_*_integration.py"],
            batch_compatibility_tag=f"unit-{name}",
        )
        # Integration tests of one service share a test process (and its servers); other services' run beside.
        python_tests(
            name="integration",
            sources=["tests/test_*_integration.py"],
            batch_compatibility_tag=f"integration-{name}",
        )
    # Its execution mode and tools: __defaults__ in src/python/tessera/BUILD.
    pex_binary(name=name, entry_point="main.py:main")
    docker_image(
        name="image",
        instructions=SERVICE_DOCKERFILE.strip().splitlines(),
        dependencies=[f":{name}"],
        extra_build_args=[f"SERVICE={name}"],
        repository=f"tessera/{name}",
        image_tags=["latest"],
    )
