import asyncio
import sys

import aiohttp

# The tutorial's program 3, unchanged but for the URL, which may be given
# as the first argument (there is no internet on the machines the demo
# runs on: it passes a local server's URL).

async def fetch_url(url):
    async with aiohttp.ClientSession() as session:
        async with session.get(url) as response:
            return await response.text()

async def main():
    url = sys.argv[1] if len(sys.argv) > 1 else "https://example.com"
    content = await fetch_url(url)
    print(content[:100])  # Print first 100 characters

asyncio.run(main())
