"""What the kit reads from the code Pants generates from the protos: no service name is typed twice."""

from __future__ import annotations

import importlib

from google.protobuf.descriptor import ServiceDescriptor


def service_descriptor(generated: type) -> ServiceDescriptor:
    """The service of a generated `<Name>Stub` or `<Name>Servicer` class (or a subclass of one), from its
    module's `_pb2` sibling: no service name is typed twice."""
    for cls in generated.__mro__:
        if cls.__module__.endswith("_pb2_grpc"):
            name = cls.__name__.removesuffix("Stub").removesuffix("Servicer")
            messages = importlib.import_module(cls.__module__.removesuffix("_grpc"))
            services: dict[str, ServiceDescriptor] = messages.DESCRIPTOR.services_by_name
            if name in services:
                return services[name]
    raise TypeError(f"{generated.__name__} is no generated stub or servicer class (of a *_pb2_grpc module)")
