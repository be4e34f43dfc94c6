"""Twin of check_http.c (get, status, redirects, errors, streaming).

What aiohttp does in the scenarios the C tests check, against an aiohttp
test server with the same routes as tests/httpd.c.  Run with Debian's
python3 (aiohttp installed).  Prints one line per fact; the C tests assert
the same facts.
"""
import asyncio

import aiohttp
from aiohttp import web


async def hello(request):
    return web.Response(text="hello world")


async def status(request):
    n = int(request.match_info["n"])
    return web.Response(status=n, text=f"status {n}")


async def redirect(request):
    n = int(request.match_info["n"])
    if n <= 0:
        return web.Response(text="done")
    raise web.HTTPFound(f"/redirect/{n - 1}")


async def loop(request):
    raise web.HTTPFound("/loop")


async def headers(request):
    r = web.Response(text="h")
    r.headers.add("Set-Cookie", "a=1")
    r.headers.add("X-Multi", "one")
    r.headers.add("Set-Cookie", "b=2")
    r.headers.add("x-multi", "two")
    return r


async def delay(request):
    await asyncio.sleep(int(request.match_info["ms"]) / 1000)
    return web.Response(text="late")


async def main():
    app = web.Application()
    app.add_routes([web.get("/hello", hello), web.get("/status/{n}", status),
                    web.get("/redirect/{n}", redirect), web.get("/loop", loop),
                    web.get("/headers", headers), web.get("/delay/{ms}", delay)])
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    async with aiohttp.ClientSession() as s:
        async with s.get(base + "/hello") as r:
            print("get", r.status, await r.text(), r.headers.get("content-length"))
        async with s.get(base + "/status/404") as r:
            print("404 is a response", r.status)
        async with s.get(base + "/redirect/3") as r:
            print("redirects followed", r.status, await r.text(), len(r.history),
                  str(r.url).endswith("/redirect/0"))
        async with s.get(base + "/redirect/3", allow_redirects=False) as r:
            print("not followed", r.status, r.headers["Location"])
        async with s.get(base + "/headers") as r:
            print("getall", r.headers.getall("set-cookie"), r.headers.getall("X-MULTI"))
        try:
            await s.get(base + "/loop")
        except aiohttp.TooManyRedirects as e:
            print("loop: TooManyRedirects is a ClientError", isinstance(e, aiohttp.ClientError))
        try:
            await s.get(base + "/delay/3000", timeout=aiohttp.ClientTimeout(total=0.1))
        except asyncio.TimeoutError:
            print("timeout TimeoutError")
        try:
            await s.get("http://127.0.0.1:1/")
        except aiohttp.ClientConnectorError as e:
            print("refused ClientError", isinstance(e, aiohttp.ClientError))
        try:
            await s.get("ftp://127.0.0.1/")
        except Exception as e:
            # aiohttp 3.8: AssertionError; 3.10: NonHttpUrlClientError, its
            # message the URL.  casyncio: InvalidURL, as for any URL it
            # cannot fetch.
            print("bad scheme", type(e).__name__)
        # Malformed URLs, the empty one too: InvalidURL, a ValueError
        # (casyncio: the same type, "InvalidURL", a ValueError).  aiohttp
        # 3.10 words it "URL - description"; casyncio gives curl's reason
        # as the description.  yarl takes "http://exa mple.com/" and fails
        # to resolve it; curl's parser, and so casyncio, refuse it as a bad
        # host name.
        for u in ["http://[::1", "http:///path", "http://127.0.0.1:99999/", ""]:
            try:
                await s.get(u)
            except aiohttp.InvalidURL as e:
                print("bad url InvalidURL, a ValueError", isinstance(e, ValueError), repr(str(e)))
        async with s.get(base + "/hello") as r:
            chunks = [c async for c in r.content.iter_chunked(4)]
            print("stream", b"".join(chunks))
    await runner.cleanup()


asyncio.run(main())
