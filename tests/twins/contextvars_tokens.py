"""Twin of check_contextvars.c: test_tokens.

ContextVar without a default raises LookupError while unset; get(default)
does not.  set returns a Token remembering the old value (Token.MISSING
when unset); reset puts it back; a token used twice raises RuntimeError,
one reset through another variable or in another context ValueError.
(casyncio's reset consumes a token even when it fails, so each failing
case uses a fresh token here.)
"""
import asyncio
import contextvars

out = []
var = contextvars.ContextVar("var")
other = contextvars.ContextVar("other", default=None)


def old(token):
    return "MISSING" if token.old_value is contextvars.Token.MISSING else token.old_value


async def child(token):
    try:
        var.reset(token)
    except ValueError:
        out.append("ValueError-ctx")


async def main():
    try:
        var.get()
    except LookupError:
        out.append("LookupError")
    out.append("get_or=%s" % var.get("fallback"))
    t1 = var.set("one")
    out.append("old=%s" % old(t1))
    t2 = var.set("two")
    out.append("old=%s var=%s" % (old(t2), t2.var.name))
    var.reset(t2)
    out.append("now=%s" % var.get())
    try:
        var.reset(t2)
    except RuntimeError:
        out.append("RuntimeError")
    t3 = var.set("three")
    try:
        other.reset(t3)
    except ValueError:
        out.append("ValueError-var")
    t4 = var.set("four")
    await asyncio.create_task(child(t4))
    out.append("now=%s" % var.get())
    var.reset(t1)
    try:
        var.get()
    except LookupError:
        out.append("LookupError")


asyncio.run(main())
print(" ".join(out))
