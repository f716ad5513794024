"""An import-linter contract type that import-linter does not ship: no import cycle among
a package's modules, at module level.

import-linter's own ``acyclic_siblings`` compares *siblings* (every module of a subpackage
counts as the subpackage), so it cannot see a package's ``__init__`` and one of its own
modules importing each other: the registration cycle ``psmarl.methods`` had (the package
imported its method modules, which imported the registry back). This contract takes every
module, a package's ``__init__`` included, and fails on every strongly connected component
of the import graph (imports inside functions count: grimp reads them too). The
configuration is in pyproject.toml (``[tool.importlinter]``); tests/test_code_shape.py runs
it.
"""

from __future__ import annotations

from collections import deque

from importlinter import Contract, ContractCheck, fields, output


def strongly_connected(adjacency: dict[str, set[str]]) -> list[list[str]]:
    """The components of more than one module (Tarjan's algorithm, iterative), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(adjacency):
        if root in index:
            continue
        work = [(root, iter(sorted(adjacency[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(adjacency[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return sorted(found)


def one_cycle(component: list[str], adjacency: dict[str, set[str]]) -> list[str]:
    """A shortest cycle through the component's first module: [m0, m1, ..., m0]."""
    inside = set(component)
    start = component[0]
    came_from: dict[str, str] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for child in sorted(adjacency[node] & inside):
            if child == start:
                path = [node]
                while path[-1] != start:
                    path.append(came_from[path[-1]])
                return [*reversed(path), start]
            if child not in came_from:
                came_from[child] = node
                queue.append(child)
    raise AssertionError(f"{start} is in no cycle of its component")  # unreachable for an SCC


class AcyclicModulesContract(Contract):
    """``packages``: the packages whose modules (all of them, at any depth) must not import
    each other in a cycle."""

    type_name = "acyclic_modules"
    packages = fields.ListField(subfield=fields.StringField())

    def check(self, graph, verbose: bool) -> ContractCheck:
        modules: set[str] = set()
        for package in self.packages:  # type: ignore[attr-defined]
            modules |= {package} | set(graph.find_descendants(package))
        adjacency = {m: set(graph.find_modules_directly_imported_by(m)) & modules for m in modules}
        cycles = []
        for component in strongly_connected(adjacency):
            chain = one_cycle(component, adjacency)
            links = []
            for importer, imported in zip(chain, chain[1:]):
                details = graph.get_import_details(importer=importer, imported=imported)
                lines = ", ".join(str(d["line_number"]) for d in details)
                links.append(f"{importer} -> {imported} (l. {lines})")
            cycles.append({"modules": component, "links": links})
        output.verbose_print(verbose, f"{len(modules)} modules, {len(cycles)} cycle(s)")
        return ContractCheck(kept=not cycles, metadata={"cycles": cycles})

    def render_broken_contract(self, check: ContractCheck) -> None:
        for cycle in check.metadata["cycles"]:
            output.print_error(
                f"Import cycle among {len(cycle['modules'])} modules: "
                f"{', '.join(cycle['modules'])}. One of its loops:"
            )
            for link in cycle["links"]:
                output.indent_cursor()
                output.print_error(link, bold=False)
            output.new_line()
