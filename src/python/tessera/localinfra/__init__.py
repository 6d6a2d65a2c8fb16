"""Real PostgreSQL, Redis and Kafka as native processes on 127.0.0.1, for tests and the local stack.

No Docker: the binaries come from Debian's packages (PostgreSQL, Redis) and Maven Central (Apache Kafka's jars,
run in KRaft mode on the machine's JDK). Whatever is missing is installed on first use.
"""

from tessera.localinfra.stack import InfraEndpoints, LocalInfra

__all__ = ["InfraEndpoints", "LocalInfra"]
