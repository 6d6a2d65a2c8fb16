"""Service mocks from the contracts: a real gRPC server for any service, built from its generated descriptors.

    inventory = ServiceMock.of(inventory_pb2_grpc.InventoryServiceStub)
    inventory.on("Reserve").returns({"status": "RESERVATION_STATUS_RESERVED"}, echo=True)
    inventory.on("Commit").fails(grpc.StatusCode.UNAVAILABLE, times=1).returns({})
    inventory.on("GetStock").returns(lambda request: stock[request.product_id])   # raise Status(NOT_FOUND) ...
    async with inventory.serving() as target:          # "127.0.0.1:<port>", health SERVING
        ...                                             # the code under test calls it over gRPC
    inventory.requests("Reserve")                       # what it was sent, as inventory_pb2.ReserveRequest

Every method of the service is there; one that no answer was programmed for is UNIMPLEMENTED (or, with
`echo_by_default`, answers with the fields its request shares with its response). Requests are parsed with the
method's input type, and any field the contract does not know is a violation (INVALID_ARGUMENT, and listed in
`violations`); answers are checked against the output type when programmed (dicts through protobuf's JSON
mapping), and again when a callable makes them.

Hand-written because grpcio ships no such server: grpcio-testing drives a servicer without a network, which is
the wrong way round (here the code under test is the client). It is served by the kit's own server, so health
and reflection are there as on a real service.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, TypeAlias, cast

import grpc
from google.protobuf import descriptor_pool, json_format, message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor, MethodDescriptor, ServiceDescriptor
from google.protobuf.message import DecodeError, Message
from google.protobuf.unknown_fields import UnknownFieldSet

from tessera.kit.generated import service_descriptor
from tessera.kit.grpc_server import GrpcServer, GrpcService

Reply: TypeAlias = Message | Mapping[str, Any] | Callable[[Any], Message | Mapping[str, Any] | Awaitable[Any]]


class ContractViolation(Exception):
    """An answer or a request that does not fit the service's contract."""


class Status(Exception):  # - raised by an answer, it is the status, as grpc names it
    """Raised by a callable answer: the call ends with this status (e.g. NOT_FOUND for an id it does not know)."""

    def __init__(self, code: grpc.StatusCode, details: str = "") -> None:
        super().__init__(f"{code.name}: {details}")
        self.code, self.details = code, details


def _message_class(descriptor: Descriptor) -> type[Message]:
    return message_factory.GetMessageClass(descriptor)


def _unknown_fields(message: Message, path: str = "") -> list[str]:
    """Paths of the fields a message carries that its type does not declare (a peer on another contract)."""
    unknown = cast("Iterable[Any]", UnknownFieldSet(message))  # iterable; its stubs do not say so
    found = [f"{path}#{item.field_number}" for item in unknown]
    for descriptor, value in message.ListFields():
        if descriptor.type != FieldDescriptor.TYPE_MESSAGE:
            continue
        name = f"{path}.{descriptor.name}" if path else descriptor.name
        if descriptor.is_repeated:
            is_map = descriptor.message_type is not None and descriptor.message_type.GetOptions().map_entry
            items = value.values() if is_map else value
            for index, item in enumerate(items):
                if isinstance(item, Message):
                    found += _unknown_fields(item, f"{name}[{index}]")
        else:
            found += _unknown_fields(value, name)
    return found


def echo(request: Message, reply_type: type[Message]) -> Message:
    """A reply holding every field the request shares with it by name and type."""
    reply = reply_type()
    for descriptor, value in request.ListFields():
        target = reply.DESCRIPTOR.fields_by_name.get(descriptor.name)
        if target is None or target.type != descriptor.type or target.is_repeated != descriptor.is_repeated:
            continue
        if descriptor.type == FieldDescriptor.TYPE_MESSAGE and target.message_type != descriptor.message_type:
            continue
        if descriptor.is_repeated:
            getattr(reply, target.name).extend(value)
        elif descriptor.type == FieldDescriptor.TYPE_MESSAGE:
            getattr(reply, target.name).CopyFrom(value)
        else:
            setattr(reply, target.name, value)
    return reply


@dataclass
class _Answer:
    reply: Reply | None = None
    echo: bool = False
    code: grpc.StatusCode | None = None
    details: str = ""
    delay: float = 0.0
    times: int | None = None  # None: every call from now on


@dataclass
class MethodMock:
    """One RPC of a mocked service: what it answers, and what it was asked."""

    method: MethodDescriptor
    requests: list[Any] = field(default_factory=list)  # messages of the method's input type
    _answers: list[_Answer] = field(default_factory=list)
    _delay: float = 0.0

    @property
    def reply_type(self) -> type[Message]:
        return _message_class(self.method.output_type)

    def _checked(self, reply: Message | Mapping[str, Any]) -> Message:
        if isinstance(reply, Message):
            if reply.DESCRIPTOR is not self.method.output_type:
                raise ContractViolation(
                    f"{self.method.full_name} answers {self.method.output_type.full_name}, "
                    f"not {reply.DESCRIPTOR.full_name}"
                )
            return reply
        try:
            return json_format.ParseDict(dict(reply), self.reply_type())
        except json_format.ParseError as error:
            raise ContractViolation(f"{self.method.full_name}: {error}") from None

    def _add(self, answer: _Answer) -> MethodMock:
        answer.delay = answer.delay or self._delay
        self._delay = 0.0
        self._answers.append(answer)
        return self

    def delays(self, seconds: float) -> MethodMock:
        """The next answer programmed comes after `seconds` (a slow service; a client's deadline may pass)."""
        self._delay = seconds
        return self

    def returns(self, reply: Reply, *, echo: bool = False, times: int | None = None) -> MethodMock:
        """Answers with `reply`: a message, a dict in protobuf's JSON mapping, or a callable of the request.
        With `echo`, the fields the request shares with the reply are filled in first."""
        if not callable(reply):
            reply = self._checked(reply)
        return self._add(_Answer(reply=reply, echo=echo, times=times))

    def fails(self, code: grpc.StatusCode, details: str = "", *, times: int | None = None) -> MethodMock:
        """Answers with an error status (`times` calls, or from now on)."""
        return self._add(_Answer(code=code, details=details, times=times))

    def _next(self) -> _Answer | None:
        for answer in self._answers:
            if answer.times is None:
                return answer
            if answer.times > 0:
                answer.times -= 1
                return answer
        return None

    async def _reply(self, answer: _Answer, request: Message) -> Message:
        reply = answer.reply
        if callable(reply):
            made = reply(request)
            reply = self._checked(await made if inspect.isawaitable(made) else made)
        base = echo(request, self.reply_type) if answer.echo else self.reply_type()
        if reply is not None:
            base.MergeFrom(reply)  # type: ignore[arg-type]
        return base


class ServiceMock:
    """A mocked gRPC service: every method of its contract, each answering as programmed."""

    def __init__(self, service: ServiceDescriptor, *, echo_by_default: bool = False) -> None:
        self.service = service
        self.echo_by_default = echo_by_default
        self.methods = {method.name: MethodMock(method) for method in service.methods}
        self.violations: list[str] = []
        self.listener: Callable[[str, Message], None] | None = None  # told of every call (the stack prints them)
        self._server: GrpcServer | None = None

    @classmethod
    def of(cls, stub_or_servicer: type, *, echo_by_default: bool = False) -> ServiceMock:
        """The mock of the service a generated `<Name>Stub` (or servicer) class is for."""
        return cls(service_descriptor(stub_or_servicer), echo_by_default=echo_by_default)

    @classmethod
    def named(cls, full_name: str, *, echo_by_default: bool = False) -> ServiceMock:
        """The mock of a service by its full name (e.g. "inventory.v1.InventoryService", the registry's grpcApi).
        Its generated module is imported by the repository's convention: <package>/<first word>.proto."""
        package, _, name = full_name.rpartition(".")
        pool = descriptor_pool.Default()
        try:
            return cls(pool.FindServiceByName(full_name), echo_by_default=echo_by_default)
        except KeyError:
            importlib.import_module(f"{package}.{package.split('.')[0]}_pb2")
        return cls(pool.FindServiceByName(full_name), echo_by_default=echo_by_default)

    def on(self, method: str) -> MethodMock:
        try:
            return self.methods[method]
        except KeyError:
            raise ContractViolation(
                f"{self.service.full_name} has no method {method!r}; it has {sorted(self.methods)}"
            ) from None

    def requests(self, method: str) -> list[Any]:
        """What the method was sent, in order, as messages of its input type."""
        return self.on(method).requests

    def calls(self) -> list[str]:
        """Every method called, as often as it was, in no particular order across methods."""
        return [name for name, mock in self.methods.items() for _ in mock.requests]

    def _handler(self, mock: MethodMock) -> grpc.RpcMethodHandler[bytes, bytes]:
        request_type = _message_class(mock.method.input_type)
        name = f"{self.service.full_name}/{mock.method.name}"

        async def handle(raw: bytes, context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
            try:
                request = request_type.FromString(raw)
            except DecodeError as error:
                self.violations.append(f"{name}: a request that is no {request_type.DESCRIPTOR.full_name}: {error}")
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, self.violations[-1])
            unknown = _unknown_fields(request)
            if unknown:
                self.violations.append(f"{name}: fields the contract does not declare: {', '.join(unknown)}")
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, self.violations[-1])
            mock.requests.append(request)
            if self.listener is not None:
                self.listener(mock.method.name, request)
            answer = mock._next()
            if answer is None and self.echo_by_default:
                answer = _Answer(echo=True)
            if answer is None:
                await context.abort(grpc.StatusCode.UNIMPLEMENTED, f"the mock of {name} has no answer programmed")
            assert answer is not None
            if answer.delay:
                await asyncio.sleep(answer.delay)
            if answer.code is not None:
                await context.abort(answer.code, answer.details)
            try:
                reply = await mock._reply(answer, request)
            except Status as status:
                await context.abort(status.code, status.details)
            except ContractViolation as error:
                self.violations.append(str(error))
                await context.abort(grpc.StatusCode.INTERNAL, str(error))
            return reply.SerializeToString()

        return grpc.unary_unary_rpc_method_handler(handle)

    def _register(self, server: grpc.aio.Server) -> None:
        handlers = {name: self._handler(mock) for name, mock in self.methods.items()}
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(self.service.full_name, handlers),))

    async def start(self, port: int = 0, host: str = "127.0.0.1") -> str:
        """Serves the mock (with gRPC health and reflection); returns its target."""
        self._server = GrpcServer([GrpcService(self.service, self._register)], host=host, port=port, observed=False)
        return f"{host}:{await self._server.start()}"

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.stop(grace=0.2)
            self._server = None

    @asynccontextmanager
    async def serving(self, port: int = 0, host: str = "127.0.0.1") -> AsyncIterator[str]:
        target = await self.start(port, host)
        try:
            yield target
        finally:
            await self.stop()
