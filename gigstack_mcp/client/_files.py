"""File links (invoice PDF/XML): which hosts may be fetched, and the capped download without the API key.
The client's `download` calls these with its own pooled httpx client, so downloads share its connections."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

import httpx

from ._errors import DownloadError

# Where gigstack serves invoice PDF/XML links (gigstack-api.md, "Get Invoice Files"). `*.` = subdomains.
DEFAULT_FILE_HOSTS = ("storage.gigstack.io",)


def link_refusal(url: str, api_url: str, file_hosts: Sequence[str]) -> str | None:
    """Why a file link may not be fetched, or None. Allowed: https on a configured file host
    (`*.example.com` = its subdomains), an origin configured with its scheme (`http://host:port`),
    and the API's own origin (the embedded or configured sandbox serves its files there). Never a
    link with credentials, nor an IP address in a private, loopback or link-local range."""
    try:
        link = httpx.URL(url)
    except (httpx.InvalidURL, TypeError):
        return "it is not a valid URL"
    host = (link.host or "").lower()
    if not host or link.userinfo:
        return "it has no host, or carries credentials"
    api = httpx.URL(api_url)
    if (link.scheme, host, link.port) == (api.scheme, (api.host or "").lower(), api.port):
        return None
    origin = f"{link.scheme}://{host}" + (f":{link.port}" if link.port else "")
    if origin in file_hosts:
        return None
    if link.scheme != "https":
        return f"it is {link.scheme}, not https"
    try:
        ip = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        ip = None
    if ip is not None and not ip.is_global:
        return f"{host} is a private, loopback or reserved address"
    for allowed in file_hosts:
        if host == allowed or (allowed.startswith("*.") and host.endswith(allowed[1:])):
            return None
    return f"{host} is not one of gigstack's file hosts (GIGSTACK_FILE_HOSTS)"


async def download(
    http: httpx.AsyncClient, url: str, max_bytes: int, refusal: str | None
) -> tuple[bytes, bool]:
    """Up to `max_bytes` of a file link, and whether the file was longer. Raises DownloadError for a
    link refused (`refusal`, from `link_refusal`), a redirect (never followed: it could lead anywhere,
    loopback included), an error status or a failed connection. No Authorization header is added."""
    if refusal:
        raise DownloadError(f"not downloaded: {refusal}", method="GET", path=url[:200])
    data = bytearray()
    try:
        async with http.stream("GET", url, headers={"Accept": "*/*"}, follow_redirects=False) as response:
            if response.is_redirect:
                target = httpx.URL(response.headers.get("location", "")).host or "elsewhere"
                raise DownloadError(
                    f"not downloaded: the file link redirects (to {target}); redirects are not followed",
                    method="GET",
                    path=url[:200],
                )
            if response.status_code >= 400:
                raise DownloadError(
                    f"the file host answered HTTP {response.status_code}", method="GET", path=url[:200]
                )
            async for chunk in response.aiter_bytes():  # stops reading one chunk past the cap
                data += chunk
                if len(data) > max_bytes:
                    return bytes(data[:max_bytes]), True
    except httpx.HTTPError as exc:
        raise DownloadError(
            f"could not download the file ({type(exc).__name__})", method="GET", path=url[:200]
        ) from None
    return bytes(data), False
