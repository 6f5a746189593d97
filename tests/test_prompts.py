"""Prompts over a real MCP session: listed with described arguments, rendered, bad input refused."""

from __future__ import annotations

import pytest
from mcp import MCPError

pytestmark = pytest.mark.anyio

NAMES = {
    "issue_invoice",
    "cancel_invoice",
    "monthly_global_invoice",
    "credit_note",
    "collect_payment",
    "client_fiscal_check",
    "support_triage",
}


async def test_prompts_are_listed_with_described_arguments(mcp):
    prompts = {p.name: p for p in (await mcp.list_prompts()).prompts}
    assert set(prompts) == NAMES
    for prompt in prompts.values():
        assert prompt.description and prompt.arguments
        assert all(a.description for a in prompt.arguments)
        assert "language" in {a.name for a in prompt.arguments}


async def test_prompt_renders_in_the_requested_language(mcp):
    es = await mcp.get_prompt("cancel_invoice", {"invoice": "A-124"})
    en = await mcp.get_prompt("cancel_invoice", {"invoice": "A-124", "language": "en"})
    text_es, text_en = es.messages[0].content.text, en.messages[0].content.text
    assert "A-124" in text_es and "Spanish" in text_es and "English" in text_en
    assert "substitution_uuid" in text_es and "cancel_invoice" in text_es


async def test_bad_prompt_arguments_are_invalid_params(mcp):
    with pytest.raises(MCPError) as bad_lang:
        await mcp.get_prompt("issue_invoice", {"language": "fr"})
    assert bad_lang.value.error.code == -32602 and "language" in bad_lang.value.error.message
    with pytest.raises(MCPError) as unknown:
        await mcp.get_prompt("nope", {})
    assert unknown.value.error.code == -32602 and "issue_invoice" in unknown.value.error.message
