"""Griffe extension: the docstrings' Sphinx roles become links on the API pages.

Some docstrings write ``:class:`Agent```, ``:func:`rljax.train``` or
``:mod:`rljax.training.batch```. Markdown has no roles, so this rewrites each one, once the
package is loaded, into an optional cross-reference: the name is resolved in the
docstring's own scope (``Agent`` inside ``rljax.training.loop`` is ``rljax.agents.base.Agent``;
``rljax.train`` is where ``rljax.__getattr__`` finds it), and links to that object's
entry when an API page shows it; otherwise it stays inline code. A leading ``~``
(show the last component only) is honoured.
"""

from __future__ import annotations

import html
import re

import griffe

_ROLE = re.compile(r":(?:py:)?(?:func|class|mod|meth|attr|data|exc|obj|const):`(~?)([A-Za-z_][\w.]*)`")


def _lazy_names() -> dict[str, str]:
    import rljax  # cheap: everything else is imported on first use

    return {f"rljax.{name}": target.replace(":", ".") for name, target in rljax._LAZY.items()}


class RolesToRefs(griffe.Extension):
    def __init__(self) -> None:
        self.lazy = _lazy_names()

    def on_package(self, *, pkg: griffe.Module, **kwargs) -> None:
        self._walk(pkg, set())

    def _walk(self, obj: griffe.Object, seen: set[str]) -> None:
        if obj.path in seen:
            return
        seen.add(obj.path)
        if obj.docstring is not None and ":`" in obj.docstring.value:
            obj.docstring.value = _ROLE.sub(lambda m: self._ref(obj, m.group(1), m.group(2)), obj.docstring.value)
        for member in obj.members.values():
            if not member.is_alias:
                self._walk(member, seen)

    def _resolve(self, obj: griffe.Object, name: str) -> str | None:
        if name in self.lazy:
            return self.lazy[name]
        if name.startswith("rljax."):
            return name
        head, _, rest = name.partition(".")
        scope = obj if obj.is_module or obj.is_class else obj.parent
        try:
            path = scope.resolve(head)
        except Exception:  # griffe.NameResolutionError, or a scope without the name
            return None
        return f"{path}.{rest}" if rest else path

    def _ref(self, obj: griffe.Object, tilde: str, name: str) -> str:
        shown = name.rsplit(".", 1)[-1] if tilde else name
        target = self._resolve(obj, name)
        if target is None:
            return f"`{shown}`"
        return f'<autoref identifier="{html.escape(target)}" optional><code>{html.escape(shown)}</code></autoref>'
