"""How a chart is shown on a card with no internet, shipping the chart library once per page.

Altair's ``JupyterChart`` in offline mode puts the whole vega/vega-lite/vega-embed bundle
(~0.9 MB, built by vl-convert) into every chart widget's ``_esm``: sixteen cards shipped the
library sixteen times. Here the work is split between two anywidgets:

* :class:`VegaLibrary` carries the bundle once. The desktop shows the per-kernel singleton from
  :func:`library` once, invisibly. Its ESM puts ``{vegaEmbed}`` on
  ``globalThis.deskkitVega`` and resolves the ``globalThis.deskkitVegaReady`` promise that
  charts await (whichever loads first creates that promise, so the order does not matter).
* :class:`VegaChart` is one chart: a few KB of fixed ESM that waits for the library, embeds the
  ``spec`` trait with the SVG renderer and reports a click on a mark back to Python through the
  ``_click`` trait. A new ``spec`` that differs only in its rows goes into the drawn view;
  any other is embedded anew. The page's charts are drawn one at a time through one queue,
  those on screen first, with a task boundary between two: the numbers of every card are
  painted while the charts below them are still being drawn.

:class:`ChartView` is a chart slot: its widget stays on the page while ``show()`` replaces
the chart, and ``on_click`` callbacks get the clicked mark's data row. The desktop's card
(:class:`deskkit.ui.card.CardView`) draws its chart itself with the same code
(:data:`CHART_JS`), so that a card is one widget.

Nothing in the page can run code the page chose: both ESMs are fixed strings in this module,
a spec is data (embedded with vega's expression *interpreter*, not code generation, and with a
loader that refuses every URL), and the kernel accepts nothing from the page but a click.

``svg`` mode (``DESKKIT_CHART_MODE=svg``) is the fallback: server-side SVG from vl-convert in an
HTML widget, no JavaScript at all, so no tooltips and no clicks.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import tempfile
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import anywidget
import ipywidgets as w
import traitlets as t

if TYPE_CHECKING:
    import altair as alt

__all__ = [
    "CHART_JS",
    "ChartMode",
    "ChartView",
    "Datum",
    "VegaChart",
    "VegaLibrary",
    "clean_datum",
    "data_fields",
    "default_mode",
    "library",
    "library_bundle",
    "page_widgets",
    "spec_dict",
    "svg_of",
]

ChartMode = Literal["vega", "svg"]

#: Accepted spellings of a mode; "jupyter" was the name of the vega mode under JupyterChart.
_MODES: dict[str, ChartMode] = {"vega": "vega", "jupyter": "vega", "svg": "svg"}

#: A clicked mark's data row, as plain JSON scalars.
Datum = dict[str, str | int | float | bool | None]


def _mode(name: str) -> ChartMode:
    mode = _MODES.get(name.strip().lower())
    if mode is None:
        raise ValueError(f"chart mode must be 'vega' (alias 'jupyter') or 'svg', not {name!r}")
    return mode


def default_mode() -> ChartMode:
    """``$DESKKIT_CHART_MODE`` (``vega``, its old name ``jupyter``, or ``svg``), else ``vega``."""
    return _mode(os.environ.get("DESKKIT_CHART_MODE", "vega"))


# The library ------------------------------------------------------------------------------

#: Bundled after vega/vega-lite/vega-embed by vl-convert, which names them as used here.
# Only vegaEmbed: vl-convert 1.9 binds `vega` and `vegaLite` to those packages' default exports,
# which they do not have (null); vega-embed uses its own internal copies, and charts need no more.
_LIBRARY_SNIPPET = """
const lib = { vegaEmbed };
globalThis.deskkitVega = lib;
// Charts that loaded first already wait on this promise; otherwise create it resolved.
let ready = globalThis.deskkitVegaReady;
if (!ready) {
  let resolve;
  const promise = new Promise((r) => (resolve = r));
  ready = globalThis.deskkitVegaReady = { promise, resolve };
}
ready.resolve(lib);
export default { render() {} };
"""


def _vl_version() -> str:
    """vl-convert's name (``v6_4``) for the Vega-Lite version Altair writes specs for."""
    import altair as alt

    return "_".join(alt.SCHEMA_VERSION.split(".")[:2])


def _cache_dir() -> Path:
    """``$XDG_CACHE_HOME/deskkit`` (else ``~/.cache/deskkit``): rebuildable, never committed."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "deskkit"


@cache
def library_bundle() -> str:
    """The library's ESM: vega + vega-lite + vega-embed and the snippet, built once per process.

    Building takes seconds, so the result is also kept on disk, keyed by the vl-convert version,
    the Vega-Lite version and the snippet; a cache that cannot be read or written is skipped.
    """
    import vl_convert as vlc

    vl_version = _vl_version()
    digest = hashlib.sha256(_LIBRARY_SNIPPET.encode()).hexdigest()[:12]
    path = _cache_dir() / f"vega-bundle-{vlc.__version__}-{vl_version}-{digest}.js"
    with contextlib.suppress(OSError):
        text = path.read_text(encoding="utf-8")
        if "deskkitVegaReady" in text:  # a stray or foreign file is rebuilt, not trusted
            return text
    text = vlc.javascript_bundle(_LIBRARY_SNIPPET, vl_version=vl_version)
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        # Write then rename: a concurrent reader never sees half a bundle.
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
            os.replace(tmp, path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
    return text


class _PageWritesOnly(anywidget.AnyWidget):
    """An anywidget that takes from the page only the traits named in ``_page_writable``.

    The page could otherwise send any synced trait, ``_esm`` included; refusing them keeps the
    code that runs fixed by deskkit.
    """

    _page_writable: frozenset[str] = frozenset()

    def set_state(self, sync_data: dict[str, Any]) -> None:
        super().set_state({k: v for k, v in sync_data.items() if k in self._page_writable})


class VegaLibrary(_PageWritesOnly):
    """Carries the chart library to the page; show it once (it draws nothing)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("layout", w.Layout(display="none"))
        super().__init__(_esm=library_bundle(), **kwargs)
        self.add_class("dk-vega-library")


_LIBRARY: VegaLibrary | None = None


def library() -> VegaLibrary:
    """The kernel's one :class:`VegaLibrary` (a new one if the old widget was closed)."""
    global _LIBRARY
    if _LIBRARY is None or _LIBRARY.comm is None:
        _LIBRARY = VegaLibrary()
    return _LIBRARY


def page_widgets(mode: ChartMode | str | None = None) -> list[w.DOMWidget]:
    """What a page with charts in ``mode`` shows once: the library, or nothing for ``svg``."""
    return [library()] if _mode(mode or default_mode()) == "vega" else []


# One chart --------------------------------------------------------------------------------

#: Drawing a chart into a box of the page, shared by :class:`VegaChart` and the desktop card
#: (``deskkit.ui.card``): ``chartIn(model, box, trait, onClick)`` draws ``model.get(trait)``
#: whenever that trait changes and calls ``onClick(datum)`` on a mark click; it returns the
#: clean-up function.
CHART_JS = """
// Embeds a spec trait with the page's single copy of the library.
function ready() {
  let d = globalThis.deskkitVegaReady;  // created by the library, or here if it comes later
  if (!d) {
    let resolve;
    const promise = new Promise((r) => (resolve = r));
    d = globalThis.deskkitVegaReady = { promise, resolve };
  }
  return d.promise;
}

// A loader that refuses every URL: a spec's data is inline, and the page fetches nothing.
async function noUrls() {
  throw new Error("charts load no URLs");
}

// The clicked row as JSON scalars: no Symbol keys (Object.entries skips them), no _vgsid_.
function plain(datum) {
  const out = {};
  for (const [k, v] of Object.entries(datum)) {
    if (k.startsWith("_vg")) continue;
    if (v === null || typeof v === "string" || typeof v === "boolean") out[k] = v;
    else if (typeof v === "number") out[k] = Number.isFinite(v) ? v : null;
    else if (v instanceof Date) out[k] = v.toISOString();
  }
  return out;
}

// A top-level param with a plain value (no selection, binding or expression): a number the
// chart is laid out by, or a title's text (see deskkit.charts._shape). Its value is data.
function isValue(p) {
  return p && typeof p.name === "string" && "value" in p && !p.select && !p.bind && !p.expr;
}

// What the view drawn from `shown` needs to show `spec`, when the two differ only in their rows
// and their params' values (else null): each dataset's rows, by position (Altair names a
// dataset by a hash of its rows, so the names differ too), and each param's value.
function newRows(shown, spec) {
  const a = Object.keys(shown?.datasets ?? {});
  const b = Object.keys(spec?.datasets ?? {});
  if (a.length === 0 || a.length !== b.length) return null;
  const rest = (s, names) => {
    const params = s.params?.map((p) => (isValue(p) ? { ...p, value: null } : p));
    let text = JSON.stringify({ ...s, datasets: null, params });
    names.forEach((name, i) => { text = text.split(JSON.stringify(name)).join(`"#${i}"`); });
    return text;
  };
  if (rest(shown, a) !== rest(spec, b)) return null;
  const values = (spec.params ?? []).filter(isValue).map((p) => [p.name, p.value]);
  return { rows: b.map((name) => spec.datasets[name]), values };
}

// The page's charts are drawn one at a time, those on screen first, and the page gets the
// main thread back between two. Sixteen charts embedded at once held it for about a second
// (vega interprets every expression; see "ast" below), and no card's new numbers were painted
// meanwhile. The queue is the page's, shared by every ESM that includes this code.
const queue = (globalThis.deskkitCharts ??= { jobs: [], busy: false });

// On screen now (measured when a chart is picked: an observer's first report can come after).
function inView(box) {
  const r = box.getBoundingClientRect();
  return r.width > 0 && r.bottom > 0 && r.top < window.innerHeight;
}

// A task boundary, so that the page paints and answers input. A timer, not scheduler.yield()
// or a message: those run before timers, and a page's own timers (and a test's polling)
// waited for all sixteen charts. A hidden tab paints nothing and slows timers to one a second:
// no pause there.
function pause() {
  if (document.hidden) return Promise.resolve();
  return new Promise((resolve) => setTimeout(resolve, 0));
}

// Runs `job` (drawing into `box`) when the charts queued before it, on screen first, are drawn.
function inTurn(box, job) {
  return new Promise((resolve, reject) => {
    queue.jobs.push({ box, job, resolve, reject });
    if (!queue.busy) drain();
  });
}

async function drain() {
  queue.busy = true;
  try {
    while (queue.jobs.length) {
      await pause();
      const i = queue.jobs.findIndex((j) => inView(j.box));
      const [next] = queue.jobs.splice(Math.max(i, 0), 1);
      const done = Promise.resolve().then(next.job).then(next.resolve, next.reject);
      // A chart that takes this long does not hold up the others: it finishes on its own.
      await Promise.race([done, new Promise((resolve) => setTimeout(resolve, 5000))]);
    }
  } finally {
    queue.busy = false;
  }
}

function chartIn(model, box, trait, onClick) {
  let api = null;
  let seq = 0;  // each draw's number: a slower, older draw must not win
  let shown = null;  // the spec the view shows
  let names = [];  // the view's datasets (named as in the spec it was embedded from)

  // The box has no width until it is on the page, and a container-wide spec measures it when
  // embedded: draw after the first layout, then pass width changes on to such charts.
  let width = 0;
  let onWidth;
  const hasWidth = new Promise((r) => (onWidth = r));
  const observer = new ResizeObserver(() => {
    if (box.clientWidth <= 0 || box.clientWidth === width) return;
    width = box.clientWidth;
    onWidth();
    if (api && model.get(trait)?.width === "container") api.view.width(width).runAsync();
  });
  observer.observe(box);

  const message = (text) => {
    const p = document.createElement("div");
    p.className = "dk-chart-error";
    p.textContent = text;
    box.replaceChildren(p);
  };

  // New numbers for the same chart go into the drawn view: no new compile, no new SVG, and
  // the card keeps its height while they arrive. Anything else is embedded anew.
  const update = (mine, { rows, values }) => inTurn(box, async () => {
    if (mine !== seq) return true;  // a newer draw took over
    try {
      rows.forEach((data, i) => api.view.data(names[i], structuredClone(data)));
      values.forEach(([name, value]) => api.view.signal(name, structuredClone(value)));
      await api.view.runAsync();
      return true;
    } catch (error) {
      return mine !== seq;  // a newer draw took over; else embed this one anew
    }
  });

  const draw = async () => {
    const mine = ++seq;
    const spec = model.get(trait);
    const rows = api && names.length && spec ? newRows(shown, spec) : null;
    if (rows && (await update(mine, rows))) {
      if (mine === seq) shown = spec;
      return;
    }
    // The chart drawn stays until the new one is drawn in its place (it may wait its turn).
    const drop = () => {
      if (api) api.finalize();
      api = null;
      shown = null;
      box.replaceChildren();
    };
    if (!spec) {
      drop();
      return;
    }
    const late = setTimeout(() => mine === seq && message("Waiting for the chart library…"), 20000);
    const lib = await ready();
    clearTimeout(late);
    await hasWidth;
    if (mine !== seq) return;
    const s = structuredClone(spec);
    if (s.usermeta) delete s.usermeta.embedOptions;  // options are ours, not the spec's
    const loader = { load: noUrls, sanitize: noUrls, http: noUrls, file: noUrls };
    let result;
    try {
      result = await inTurn(box, () => {
        if (mine !== seq) return null;
        drop();
        return lib.vegaEmbed(box, s, {
          actions: false, renderer: "svg", ast: true, loader,  // ast: interpret, never eval
        });
      });
    } catch (error) {
      if (mine === seq) message("Chart could not be drawn: " + (error?.message ?? error));
      return;
    }
    if (!result) return;
    if (mine !== seq) { result.finalize(); return; }
    api = result;
    shown = spec;
    names = Object.keys(spec.datasets ?? {});
    // Only datasets the view holds as plain rows can take new ones.
    const held = (api.vgSpec?.data ?? []).filter((d) => !d.source && !d.url && !d.format);
    const sources = new Set(held.map((d) => d.name));
    if (!names.every((name) => sources.has(name))) names = [];
    api.view.addEventListener("click", (_event, item) => {
      if (!item || !item.datum || item.mark?.role !== "mark") return;  // axes, legends: no
      onClick(plain(item.datum));
    });
  };

  model.on("change:" + trait, draw);
  draw();
  return () => {
    model.off("change:" + trait, draw);
    observer.disconnect();
    seq++;
    if (api) api.finalize();
  };
}
"""

_CHART_ESM = (
    CHART_JS
    + """
// One deskkit chart: a box the "spec" trait is drawn in.
function render({ model, el }) {
  const box = document.createElement("div");
  box.className = "dk-chart-box";
  el.appendChild(box);
  return chartIn(model, box, "spec", (datum) => {
    // A counter, so that clicking the same mark twice is two changes.
    const n = (model.get("_click")?.n ?? 0) + 1;
    model.set("_click", { n, datum });
    model.save_changes();
  });
}

export default { render };
"""
)

# Fill the row: a column box stretches the chart already; a row box must let it grow, so that
# `width: "container"` specs get the card's width.
_CHART_CSS = """
.widget-hbox > .dk-chart { flex: 1 1 auto; min-width: min(100%, 300px); }
.dk-chart .dk-chart-box, .dk-chart .vega-embed { display: block; width: 100%; }
.dk-chart .dk-chart-error { color: #8A1C2B; font-size: 13px; padding: 8px 0; }
"""


class VegaChart(_PageWritesOnly):
    """One Vega-Lite chart drawn with the page's :class:`VegaLibrary`; ``chart`` replaces it."""

    _esm = _CHART_ESM
    _css = _CHART_CSS
    _page_writable = frozenset({"_click"})

    spec = t.Dict(allow_none=True, default_value=None).tag(sync=True)
    #: Set by the page on a click: ``{"n": counter, "datum": {...}}``.
    _click = t.Dict().tag(sync=True)

    def __init__(self, chart: alt.TopLevelMixin | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._chart: alt.TopLevelMixin | None = None
        #: The columns of the chart's data: what a click reports (see :func:`clean_datum`).
        self.data_fields: frozenset[str] = frozenset()
        self.chart = chart

    @property
    def chart(self) -> alt.TopLevelMixin | None:
        """The Altair chart shown (the page gets its ``to_dict()`` as ``spec``)."""
        return self._chart

    @chart.setter
    def chart(self, chart: alt.TopLevelMixin | None) -> None:
        self._chart = chart
        spec = None if chart is None else chart.to_dict()
        self.data_fields = data_fields(spec or {})
        self.spec = spec


def _spec_parts(spec: dict[str, Any]) -> tuple[list[object], list[object]]:
    """A spec's row sets (each of its ``datasets`` and inline ``data.values``) and its
    ``transform`` lists, at any depth (layers, concats and facets carry them deeper down)."""
    rows: list[object] = []
    transforms: list[object] = []

    def walk(node: object) -> None:
        if isinstance(node, list):
            for item in node:
                walk(item)
        elif isinstance(node, dict):
            for key, value in node.items():
                if key == "datasets" and isinstance(value, dict):
                    rows.extend(value.values())
                elif key == "data" and isinstance(value, dict) and "values" in value:
                    rows.append(value["values"])
                elif key == "transform":
                    transforms.append(value)
                else:
                    walk(value)

    walk(spec)
    return rows, transforms


def data_fields(spec: dict[str, Any]) -> frozenset[str]:
    """The fields of a spec's rows: the columns of its ``datasets`` and inline ``data.values``,
    and what its transforms add by name (``as``: a ``calculate`` that marks a layer, say)."""
    fields: set[str] = set()

    def named(node: object) -> None:
        if isinstance(node, list):
            for item in node:
                named(item)
        elif isinstance(node, dict):
            for key, value in node.items():
                if key == "as":
                    names = value if isinstance(value, list) else [value]
                    fields.update(n for n in names if isinstance(n, str))
                else:  # aggregate and window keep their "as" one level down
                    named(value)

    rows, transforms = _spec_parts(spec)
    for values in rows:
        if isinstance(values, list):
            for row in values:
                if isinstance(row, dict):
                    fields.update(k for k in row if isinstance(k, str))
    named(transforms)
    return frozenset(fields)


def spec_dict(chart: alt.TopLevelMixin) -> dict[str, Any]:
    """``chart.to_dict(validate=False)``, made faster for a layered chart.

    ``to_dict`` starts with a shallow copy of the chart, which Altair makes by calling the
    class again: for a ``LayerChart`` that reruns its ``__init__``, whose lifting of data,
    params and sizes out of the layers deep-copies every layer three times over (half of a
    desktop card's chart building). The chart was lifted when it was made, so here its
    shallow copy is only that: the same fields in a new object. The spec is the same.
    """
    import altair as alt

    from deskkit.charts._shape import recast

    if type(chart) is alt.LayerChart:
        chart = recast(chart, _lifted_class())
    return chart.to_dict(validate=False)


@cache
def _lifted_class() -> type:
    import altair as alt

    from deskkit.charts._shape import recast

    class Lifted(alt.LayerChart):
        """A LayerChart already lifted: its shallow copy does not lift it again."""

        def copy(self, deep: Any = True, ignore: list[str] | None = None) -> Any:
            if deep is not False:
                return super().copy(deep, ignore)
            return recast(self, type(self))

    return Lifted


def draws_nothing(spec: dict[str, Any]) -> bool:
    """Whether a spec has data and every row set of it is empty (``datasets`` and inline
    ``data.values``): no mark to draw, only an empty frame of axes."""
    rows, _ = _spec_parts(spec)
    return bool(rows) and all(isinstance(v, list) and not v for v in rows)


def clean_datum(datum: object, fields: frozenset[str] = frozenset()) -> Datum:
    """The JSON scalar fields of a clicked row, limited to ``fields`` when there are any.

    Vega-Lite adds fields of its own to a row (stack ``*_start``/``*_end``, sort indexes,
    ``_vgsid_``, encoding aggregates such as ``sum_count``); keeping the spec's
    :func:`data_fields` gives the data row back. The page is not trusted to have cleaned it.
    """
    if not isinstance(datum, dict):
        return {}
    out: Datum = {}
    for key, value in datum.items():
        if not isinstance(key, str) or key.startswith(("_vg", "Symbol(")):
            continue
        if fields and key not in fields:
            continue
        if isinstance(value, float) and not math.isfinite(value):
            out[key] = None
        elif value is None or isinstance(value, str | int | float | bool):
            out[key] = value
    return out


def svg_of(spec: dict[str, Any]) -> str:
    """A spec drawn as SVG on the server (vl-convert): the ``svg`` chart mode."""
    import vl_convert as vlc

    return str(vlc.vegalite_to_svg(spec, vl_version=_vl_version()))


class ChartView:
    """One chart slot: a widget that stays on the page while its chart is replaced."""

    def __init__(self, mode: ChartMode | str | None = None) -> None:
        self.mode: ChartMode = _mode(mode or default_mode())
        self._handlers = w.CallbackDispatcher()
        if self.mode == "vega":
            self.widget: w.DOMWidget = VegaChart()
            self.widget.observe(self._on_click, names="_click")
        else:
            self.widget = w.HTML()
        self.widget.add_class("dk-chart")

    def show(self, chart: alt.TopLevelMixin | None) -> None:
        """Draw ``chart`` (None clears the slot)."""
        if isinstance(self.widget, VegaChart):
            self.widget.chart = chart
        elif chart is None:
            self.widget.value = ""  # type: ignore[attr-defined]
        else:
            self.widget.value = svg_of(chart.to_dict())  # type: ignore[attr-defined]

    def on_click(self, callback: Callable[[Datum], Any], remove: bool = False) -> None:
        """Call ``callback(datum)`` when a mark is clicked (never in ``svg`` mode)."""
        self._handlers.register_callback(callback, remove=remove)

    def _on_click(self, change: dict[str, Any]) -> None:
        click = change["new"] or {}
        if "datum" in click:
            fields = self.widget.data_fields  # type: ignore[attr-defined]
            self._handlers(clean_datum(click["datum"], fields))
