"""The one module that knows the SDK's internals: it turns a `ToolSpec` into the SDK's `Tool` (flat
keyword arguments from the params model, the confirmation resolver as a `Resolve`d parameter, strict
argument checking, compact schemas) whose body is the call path in pipeline.py."""

from __future__ import annotations

import copy
import inspect
import keyword
from collections.abc import Callable, Iterable
from typing import Annotated, Any, Optional

from mcp.server.elicitation import ElicitationResult
from mcp.server.mcpserver import Context, Elicit, Resolve
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.tools import Tool
from pydantic import ConfigDict, Field, ValidationError, create_model
from pydantic_core import PydanticUndefined

from .._schema import compact, compact_output
from ..context import AppState
from ..guards.confirm import Confirm
from ..models import ToolParams
from . import pipeline
from .errors import _validation_text
from .render import DestructiveResult, WithWarnings
from .spec import Kind, ToolSpec


class GigstackTool(Tool):
    """The SDK's Tool, with its argument-validation errors worded like ours (`_validation_text`), and
    one read of the target per phase for the tools that confirm (pipeline.one_phase)."""

    confirms: bool = False

    async def run(self, arguments: dict[str, Any], context: Any, convert_result: bool = False) -> Any:
        try:
            with pipeline.one_phase(self.confirms):
                return await super().run(arguments, context, convert_result=convert_result)
        except ToolError as exc:
            if isinstance(exc.__cause__, ValidationError):
                known = self.parameters.get("properties", {})
                text = _validation_text(exc.__cause__, known)
                writes = not (self.annotations and self.annotations.read_only_hint)
                state = getattr(getattr(context, "request_context", None), "lifespan_context", None)
                if writes and isinstance(state, AppState):
                    state.oversight.refused_arguments(self.name, arguments, text)
                raise ToolError(f"Error executing tool {self.name}: {text}") from None
            raise


def _with_confirmation(params: type[ToolParams]) -> type[ToolParams]:
    model = create_model(
        params.__name__,
        __base__=params,
        confirmation_token=(
            str | None,
            Field(None, description="Only after the user's yes."),
        ),
    )
    model.local_fields = (*params.local_fields, "confirmation_token")
    return model


def _signature(params: type[ToolParams], extra: list[inspect.Parameter]) -> inspect.Signature:
    """Flat keyword parameters from the model's fields (team last), plus `extra`."""
    out = []
    fields = sorted(params.model_fields.items(), key=lambda kv: kv[0] == "team")
    for name, f in fields:
        fi = copy.copy(f)
        # An optional argument takes null as "not given" (the params model then applies its default).
        kind = f.annotation if f.is_required() else Optional[f.annotation]  # noqa: UP045 (a runtime type)
        default = inspect.Parameter.empty if f.is_required() else None
        fi.default, fi.default_factory = PydanticUndefined, None
        out.append(
            inspect.Parameter(
                name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=Annotated[kind, fi]
            )
        )
    return inspect.Signature(out + extra)


def _set_signature(fn: Callable[..., Any], sig: inspect.Signature, ret: Any) -> None:
    fn.__signature__ = sig.replace(return_annotation=ret)  # type: ignore[attr-defined]
    fn.__annotations__ = {p.name: p.annotation for p in sig.parameters.values()} | {"return": ret}


def _resolver(spec: ToolSpec, params: type[ToolParams]) -> inspect.Parameter:
    """The `confirmation` parameter: the SDK runs `ask` before the body and hands over the answer."""

    async def ask(ctx: Context, **kwargs: Any) -> Confirm | Elicit[Confirm]:
        asked = await pipeline.question(spec, params, ctx, kwargs)
        return Elicit(asked, Confirm) if isinstance(asked, str) else asked

    # The resolver takes the arguments by their wire names; one that is a Python keyword (`global`,
    # of invoices) cannot be a parameter, so the resolver goes without it (it needs neither the
    # amount nor the receiver from it; the body's guard rails see every argument).
    wire = (f.alias or name for name, f in params.model_fields.items())
    arg_names = [n for n in wire if n.isidentifier() and not keyword.iskeyword(n)]
    _set_signature(
        ask,
        inspect.Signature(
            [inspect.Parameter("ctx", inspect.Parameter.KEYWORD_ONLY, annotation=Context)]
            + [
                inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=Any)
                for n in arg_names
            ]
        ),
        Confirm | Elicit[Confirm],
    )
    ask.__name__ = ask.__qualname__ = f"confirm_{spec.name}"
    return inspect.Parameter(
        "confirmation",
        inspect.Parameter.KEYWORD_ONLY,
        annotation=Annotated[ElicitationResult[Confirm], Resolve(ask)],
    )


def build_tool(spec: ToolSpec) -> Tool:
    params = _with_confirmation(spec.params) if spec.confirmable else spec.params
    output: Any = DestructiveResult[spec.output] if spec.kind is Kind.DESTRUCTIVE else spec.output  # type: ignore[name-defined]
    output = create_model(f"{output.__name__}Result", __base__=(output, WithWarnings))

    async def wrapper(ctx: Context, confirmation: Any = None, **kwargs: Any) -> Any:
        return await pipeline.call(spec, params, ctx, confirmation, kwargs)

    extra = [inspect.Parameter("ctx", inspect.Parameter.KEYWORD_ONLY, annotation=Context)]
    if spec.confirmable:
        extra.append(_resolver(spec, params))
    _set_signature(wrapper, _signature(params, extra), output)
    wrapper.__name__ = wrapper.__qualname__ = spec.name

    tool = GigstackTool.from_function(
        wrapper, name=spec.name, title=spec.title, description=spec.description, annotations=spec.annotations
    )
    tool.confirms = spec.confirmable
    # Unknown arguments are an error (a typo must not silently drop a field of a tax document).
    strict = type(
        tool.fn_metadata.arg_model.__name__,
        (tool.fn_metadata.arg_model,),
        {"model_config": ConfigDict(extra="forbid", arbitrary_types_allowed=True)},
    )
    tool.fn_metadata.arg_model = strict
    tool.parameters = compact(strict.model_json_schema(by_alias=True))
    tool.fn_metadata.output_schema = compact_output(tool.fn_metadata.output_schema)
    tool.__dict__.pop("output_schema", None)  # cached_property: recompute from the compact schema
    return tool


def build_tools(specs: Iterable[ToolSpec]) -> list[Tool]:
    return [build_tool(s) for s in specs]
