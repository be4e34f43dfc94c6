/* "Using Asyncio with HTTP Requests" (fetch_url.py): fetch a page with a
   session and print its first 100 characters.  The URL may be given as the
   first argument; the default is the tutorial's. */
#include <casyncio.h>
#include <stdio.h>

/* async def fetch_url(url): returns the response, whose body is the text
   (the caller frees it; it outlives the session). */
static void *fetch_url(void *arg)
{
    const char *url = arg;
    /* async with aiohttp.ClientSession() as session: */
    asyncio_http_session_t *session = asyncio_http_session_new(NULL);
    if (!session)
        return NULL;
    /* async with session.get(url) as response: return await response.text() */
    asyncio_http_response_t *response = NULL;
    asyncio_http_get(session, url, &response); /* NULL with the error raised */
    asyncio_http_session_free(session);
    return response;
}

/* async def main(): */
static void *async_main(void *arg)
{
    const char *url = arg;
    asyncio_http_response_t *response;
    if (asyncio_call(fetch_url, (void *)url, (void **)&response) < 0)
        return NULL;
    const char *content = response->body;
    /* print(content[:100]): the first 100 characters (UTF-8 aware, as
       Python counts characters, not bytes) */
    size_t end = 0;
    for (int chars = 0; content[end] && chars < 100; chars++) {
        end++;
        while ((content[end] & 0xC0) == 0x80)
            end++;
    }
    printf("%.*s\n", (int)end, content);
    asyncio_http_response_free(response);
    return NULL;
}

int main(int argc, char **argv)
{
    const char *url = argc > 1 ? argv[1] : "https://example.com";
    if (asyncio_run(async_main, (void *)url, NULL) < 0) {
        const asyncio_error_t *e = asyncio_error();
        char text[512];
        asyncio_error_format(e, text, sizeof text);
        fprintf(stderr, "%s\n", e ? text : "Error");
        return 1;
    }
    return 0;
}
