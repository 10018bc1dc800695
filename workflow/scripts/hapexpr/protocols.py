"""The contract between the models and evaluation: training examples per protocol and split, and the rows of
results/predictions/{name}.parquet. Every model goes through it and only fits and predicts windows.

Protocols (README "Protocols"; which genes x which individuals, and the `split` a row carries):

* cross_gene: every gene, individual `reference` (its reference window, hap_id 0); split = the gene's split.
* cross_individual: training genes (split train) x individuals of split train/valid/test; split = the individual's.
* cross_population: training genes x individuals of split test_population (held-out populations); split test.
* unseen_gene_individual: test genes x individuals of split test; split test.

A model trains at most two ways (`TRAINED_PROTOCOLS`): cross_gene (reference windows of genes) and cross_individual
(unique haplotypes of train individuals on training genes). The cross_population and unseen_gene_individual rows
come from the cross_individual model; a model trained cross-gene only (gc_cpg, kmer_ridge, dexter) gives every
protocol's rows from its one model.

Examples are UNIQUE haplotypes (gene_id, hap_id): a cross_individual example's target is the mean expression over
the haplotype copies that carry it (an individual homozygous for it counts twice) and its weight is that number of
copies, so weighted MSE over unique haplotypes equals the MSE over every individual-haplotype, term for term.

Rows: an individual's prediction is the mean of its two haplotypes' predictions. Statuses come from `STATUSES`
only, decided in this order: a gene whose expression is constant across the training individuals is
`CONSTANT_EXPRESSION` for every individual and every model; a missing target is `NO_TARGET`; an individual without
two haplotypes of the gene in the store (or without genotypes) is `NO_HAPLOTYPES`. A haplotype the store maps an
individual to but the model did not predict is an error, never a silent NaN: `needed_haplotypes` says what to
predict.
"""

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

PREDICTION_COLUMNS = ["gene_id", "individual", "protocol", "y_true", "y_pred", "split", "status"]
PROTOCOLS = ("cross_gene", "cross_individual", "cross_population", "unseen_gene_individual")
INDIVIDUAL_PROTOCOLS = PROTOCOLS[1:]
TRAINED_PROTOCOLS = ("cross_gene", "cross_individual")
SPLITS = ("train", "valid", "test")
INDIVIDUAL_SPLITS = ("train", "valid", "test", "test_population")
MAP_COLUMNS = ["gene_id", "individual", "haplotype", "hap_id"]
EXAMPLE_COLUMNS = ["gene_id", "hap_id", "y", "weight"]
REFERENCE = "reference"

OK = "ok"
NO_TARGET = "skipped: no target"
NO_HAPLOTYPES = "skipped: no haplotypes"
CONSTANT_EXPRESSION = "skipped: constant expression"
NO_CIS_VARIANTS = "skipped: no cis variants"
TOO_FEW_INDIVIDUALS = "skipped: too few training individuals"
#: The one vocabulary of row statuses (a model that cannot do a protocol at all writes no rows for it).
STATUSES = (OK, NO_TARGET, NO_HAPLOTYPES, CONSTANT_EXPRESSION, NO_CIS_VARIANTS, TOO_FEW_INDIVIDUALS)

# Per individual protocol: (split of the genes, splits of the individuals, split written on the row or None = the
# individual's own).
_INDIVIDUAL_GRID = {
    "cross_individual": ("train", ("train", "valid", "test"), None),
    "cross_population": ("train", ("test_population",), "test"),
    "unseen_gene_individual": ("test", ("test",), "test"),
}


def _check_protocol(protocol: str, allowed: Sequence[str] = PROTOCOLS) -> None:
    if protocol not in allowed:
        raise ValueError(f"unknown protocol {protocol!r}; expected one of {list(allowed)}")


def empty_predictions() -> pd.DataFrame:
    """A predictions table with the contract's columns and no rows."""
    return pd.DataFrame({c: pd.Series(dtype=float if c.startswith("y_") else object) for c in PREDICTION_COLUMNS})


def trained_protocol(protocol: str) -> str:
    """The protocol of the model whose predictions give `protocol`'s rows (cross_gene or cross_individual)."""
    _check_protocol(protocol)
    return "cross_gene" if protocol == "cross_gene" else "cross_individual"


def row_protocols(trained: str, available: Sequence[str] = PROTOCOLS) -> list[str]:
    """The protocols whose rows a model trained on `trained` writes, among `available` (the run's protocols)."""
    _check_protocol(trained, TRAINED_PROTOCOLS)
    return [p for p in available if trained_protocol(p) == trained]


def expression_long(expression: pd.DataFrame) -> pd.DataFrame:
    """gene_id, individual, y from the wide expression table (gene_id as a column or the index), NaN kept."""
    wide = expression if "gene_id" in expression.columns else expression.rename_axis("gene_id").reset_index()
    return wide.melt(id_vars="gene_id", var_name="individual", value_name="y")


def protocol_genes(protocol: str, genes: pd.DataFrame) -> pd.DataFrame:
    """The genes of a protocol's rows (every gene for cross_gene)."""
    _check_protocol(protocol)
    if protocol == "cross_gene":
        return genes
    return genes[genes["split"] == _INDIVIDUAL_GRID[protocol][0]]


def protocol_individuals(protocol: str, individuals: pd.DataFrame) -> pd.DataFrame:
    """individual, split: the individuals of an individual protocol's rows and the split each row carries."""
    _check_protocol(protocol, INDIVIDUAL_PROTOCOLS)
    _, splits, row_split = _INDIVIDUAL_GRID[protocol]
    people = individuals.loc[individuals["split"].isin(splits), ["individual", "split"]].copy()
    if row_split is not None:
        people["split"] = row_split
    people["individual"] = people["individual"].astype(str)
    return people.reset_index(drop=True)


def _wide(expression: pd.DataFrame) -> pd.DataFrame:
    """The expression table indexed by gene_id (it has gene_id as a column or the index)."""
    return expression.set_index("gene_id") if "gene_id" in expression.columns else expression


def constant_genes(expression: pd.DataFrame, individuals: pd.DataFrame) -> set[str]:
    """Genes whose finite expression is constant (or absent) across the training individuals: no model can learn
    or be scored across individuals on them, so every model's individual rows say CONSTANT_EXPRESSION there."""
    wide = _wide(expression)
    train = set(individuals.loc[individuals["split"] == "train", "individual"].astype(str))
    values = wide[[c for c in wide.columns if str(c) in train]].astype(float)
    spread = values.max(axis=1) - values.min(axis=1)
    return set(spread.index[~(spread > 0)].astype(str))


def _map(haplotype_map: pd.DataFrame) -> pd.DataFrame:
    return haplotype_map[["gene_id", "individual", "hap_id"]].astype({"gene_id": str, "individual": str})


def examples(protocol: str, split: str, genes: pd.DataFrame, expression: pd.DataFrame | None = None,
             individuals: pd.DataFrame | None = None, haplotype_map: pd.DataFrame | None = None) -> pd.DataFrame:
    """gene_id, hap_id, y, weight: the training (`split` train) or validation (`split` valid) examples of a trained
    protocol, each unique haplotype once. An empty split gives an empty table.

    cross_gene: the reference window (hap_id 0) of each gene of `split` with a finite y_cross_gene, weight 1.
    cross_individual: the unique haplotypes that individuals of `split` carry on the training genes, target = mean
    expression over the carrying copies, weight = number of copies.
    """
    _check_protocol(protocol, TRAINED_PROTOCOLS)
    if split not in ("train", "valid"):
        raise ValueError(f"examples of split {split!r}: expected train or valid")
    if protocol == "cross_gene":
        chosen = genes[(genes["split"] == split) & np.isfinite(genes["y_cross_gene"].astype(float))]
        return pd.DataFrame({"gene_id": chosen["gene_id"].astype(str).to_numpy(), "hap_id": 0,
                             "y": chosen["y_cross_gene"].to_numpy(float), "weight": 1.0})[EXAMPLE_COLUMNS]
    if haplotype_map is None or expression is None or individuals is None:
        raise ValueError("cross_individual examples need the expression, the individuals and the haplotype map")
    people = set(individuals.loc[individuals["split"] == split, "individual"].astype(str))
    training_genes = genes.loc[genes["split"] == "train", "gene_id"]
    wide = _wide(expression)
    wide = wide.loc[wide.index.isin(training_genes), [c for c in wide.columns if c in people]]
    long = expression_long(wide).dropna(subset=["y"])
    copies = _map(haplotype_map).merge(long, on=["gene_id", "individual"])
    out = (copies.groupby(["gene_id", "hap_id"], sort=True)["y"].agg(["mean", "size"])
           .rename(columns={"mean": "y", "size": "weight"}).reset_index())
    out["hap_id"] = out["hap_id"].astype(np.int64)
    return out.astype({"y": float, "weight": float})[EXAMPLE_COLUMNS]


def needed_haplotypes(protocols: Iterable[str], genes: pd.DataFrame, individuals: pd.DataFrame,
                      haplotype_map: pd.DataFrame | None = None) -> pd.DataFrame:
    """gene_id, hap_id: every unique haplotype a model must predict to write the rows of `protocols`, each once."""
    keys = []
    for protocol in protocols:
        chosen = protocol_genes(protocol, genes)["gene_id"].astype(str)
        if protocol == "cross_gene":
            keys.append(pd.DataFrame({"gene_id": chosen.to_numpy(), "hap_id": 0}))
        elif haplotype_map is not None and len(haplotype_map):
            people = protocol_individuals(protocol, individuals)["individual"]
            m = _map(haplotype_map)
            keys.append(m.loc[m["gene_id"].isin(chosen) & m["individual"].isin(people), ["gene_id", "hap_id"]])
    if not keys:
        return pd.DataFrame({"gene_id": pd.Series(dtype=object), "hap_id": pd.Series(dtype=np.int64)})
    out = pd.concat(keys, ignore_index=True).drop_duplicates().astype({"hap_id": np.int64})
    return out.sort_values(["gene_id", "hap_id"]).reset_index(drop=True)


def diploid_predictions(hap_predictions: pd.DataFrame, haplotype_map: pd.DataFrame) -> pd.DataFrame:
    """gene_id, individual, y_pred: the mean of each mapped individual's two haplotype predictions.

    `hap_predictions` has gene_id, hap_id, y_pred per unique haplotype. A mapped haplotype without a prediction is an
    error (predict what `needed_haplotypes` lists); an individual without exactly two haplotypes gets NaN.
    """
    m = _map(haplotype_map)
    pred = hap_predictions[["gene_id", "hap_id", "y_pred"]].astype({"gene_id": str, "hap_id": np.int64})
    per_copy = m.astype({"hap_id": np.int64}).merge(pred, on=["gene_id", "hap_id"], how="left")
    lost = per_copy["y_pred"].isna()
    if lost.any():
        first = per_copy.loc[lost].iloc[0]
        raise ValueError(f"{int(lost.sum())} haplotype copies have no prediction (first: gene {first['gene_id']}, "
                         f"hap_id {first['hap_id']}, individual {first['individual']}); the model must predict every "
                         f"haplotype hapexpr.protocols.needed_haplotypes lists")
    agg = per_copy.groupby(["gene_id", "individual"])["y_pred"].agg(["mean", "size"]).reset_index()
    agg["y_pred"] = np.where(agg["size"] == 2, agg["mean"], np.nan)
    return agg[["gene_id", "individual", "y_pred"]]


def _finish(rows: pd.DataFrame, protocol: str) -> pd.DataFrame:
    rows.loc[rows["status"] != OK, "y_pred"] = np.nan
    rows["protocol"] = protocol
    rows = rows.astype({"y_true": float, "y_pred": float, "gene_id": str, "individual": str, "split": str})
    return rows[PREDICTION_COLUMNS].sort_values(["gene_id", "individual"]).reset_index(drop=True)


def cross_gene_rows(hap_predictions: pd.DataFrame, genes: pd.DataFrame) -> pd.DataFrame:
    """One row per gene: its reference window's (hap_id 0) prediction against y_cross_gene."""
    ref = hap_predictions.loc[hap_predictions["hap_id"].astype(int) == 0].set_index("gene_id")["y_pred"]
    rows = pd.DataFrame({"gene_id": genes["gene_id"].astype(str).to_numpy(), "individual": REFERENCE,
                         "y_true": genes["y_cross_gene"].to_numpy(float), "split": genes["split"].to_numpy()})
    rows["y_pred"] = rows["gene_id"].map(ref).astype(float)
    rows["status"] = np.where(~np.isfinite(rows["y_true"]), NO_TARGET,
                              np.where(rows["y_pred"].isna(), NO_HAPLOTYPES, OK))
    return _finish(rows, "cross_gene")


def individual_rows(protocol: str, diploid: pd.DataFrame, genes: pd.DataFrame, expression: pd.DataFrame,
                    individuals: pd.DataFrame, gene_status: Mapping[str, str] | None = None) -> pd.DataFrame:
    """The rows of an individual protocol: its genes x its individuals, with per-individual predictions `diploid`
    (gene_id, individual, y_pred; a missing pair means no haplotypes). `gene_status` marks genes a model skipped as
    a whole with a status of the vocabulary (the elastic net's `NO_CIS_VARIANTS`...)."""
    _check_protocol(protocol, INDIVIDUAL_PROTOCOLS)
    gene_ids = protocol_genes(protocol, genes)["gene_id"].astype(str)
    people = protocol_individuals(protocol, individuals)
    grid = pd.MultiIndex.from_product([gene_ids, people["individual"]], names=["gene_id", "individual"])
    rows = grid.to_frame(index=False).merge(people, on="individual")
    wide = _wide(expression)
    wide = wide[wide.index.isin(gene_ids)]
    targets = expression_long(wide).rename(columns={"y": "y_true"})
    rows = rows.merge(targets, on=["gene_id", "individual"], how="left")
    rows = rows.merge(diploid[["gene_id", "individual", "y_pred"]].astype({"gene_id": str, "individual": str}),
                      on=["gene_id", "individual"], how="left")
    status = np.where(rows["y_pred"].isna(), NO_HAPLOTYPES, OK).astype(object)
    if gene_status:
        bad = set(gene_status.values()) - set(STATUSES)
        if bad:
            raise ValueError(f"gene statuses {sorted(bad)} are not in hapexpr.protocols.STATUSES")
        skipped = rows["gene_id"].map(gene_status)
        status = np.where(skipped.notna() & (skipped != OK), skipped, status)
    status = np.where(~np.isfinite(rows["y_true"].astype(float)), NO_TARGET, status)
    status = np.where(rows["gene_id"].isin(constant_genes(wide, individuals)), CONSTANT_EXPRESSION, status)
    rows["status"] = status
    return _finish(rows, protocol)


def prediction_rows(protocols: Iterable[str], hap_predictions: pd.DataFrame, genes: pd.DataFrame,
                    expression: pd.DataFrame | None = None, individuals: pd.DataFrame | None = None,
                    haplotype_map: pd.DataFrame | None = None) -> pd.DataFrame:
    """The rows of `protocols` from per-haplotype predictions (gene_id, hap_id, y_pred): cross_gene from the
    reference windows, the individual protocols from the diploid mean of each individual's two haplotypes."""
    parts = []
    for protocol in protocols:
        if protocol == "cross_gene":
            parts.append(cross_gene_rows(hap_predictions, genes))
            continue
        if expression is None or individuals is None or haplotype_map is None:
            raise ValueError(f"{protocol} rows need the expression, the individuals and the haplotype map")
        m = _map(haplotype_map)
        m = m[m["gene_id"].isin(protocol_genes(protocol, genes)["gene_id"])
              & m["individual"].isin(protocol_individuals(protocol, individuals)["individual"])]
        parts.append(individual_rows(protocol, diploid_predictions(hap_predictions, m), genes, expression,
                                     individuals))
    parts = [p for p in parts if len(p)]
    return pd.concat(parts, ignore_index=True) if parts else empty_predictions()


def by_tissue(paths: Mapping[tuple[str, str], str]) -> dict[str, dict[str, str]]:
    """{tissue: {prediction name: path}} of files keyed by (tissue, prediction name), tissues in their first order
    (the rules that read every tissue's predictions handle one tissue at a time)."""
    out: dict[str, dict[str, str]] = {}
    for (tissue, name), path in paths.items():
        out.setdefault(tissue, {})[name] = path
    return out


def stack_tissues(tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Per-tissue tables of the same columns as one, with a `tissue` column first (the run's tables that span
    tissues: metrics in the summary, association, discoveries, risk)."""
    parts = [t.assign(tissue=tissue)[["tissue", *t.columns.drop("tissue", errors="ignore")]]
             for tissue, t in tables.items()]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["tissue"])


def attach(keys: pd.DataFrame, table: pd.DataFrame, what: str) -> pd.DataFrame:
    """`keys` (gene_id, hap_id, ...) joined with a model's input table on (gene_id, hap_id), in the order of
    `keys`; a key the table lacks is an error naming it (a store or feature file that lost a haplotype)."""
    out = keys.astype({"hap_id": np.int64}).merge(table.astype({"hap_id": np.int64}), on=["gene_id", "hap_id"],
                                                  how="left", indicator=True)
    lost = out["_merge"] == "left_only"
    if lost.any():
        first = out.loc[lost].iloc[0]
        raise ValueError(f"{what}: {int(lost.sum())} needed haplotypes are missing (first: gene {first['gene_id']}, "
                         f"hap_id {first['hap_id']}); rebuild the haplotype store and the features made from it")
    return out.drop(columns="_merge")


# ---------------------------------------------------------------------------------------------------------------
# The same flow for every model that predicts windows of the haplotype store


def window_examples(protocol: str, split: str, genes: pd.DataFrame, store_paths: Sequence[str], window: int,
                    expression: pd.DataFrame | None = None, individuals: pd.DataFrame | None = None,
                    haplotype_map: pd.DataFrame | None = None) -> pd.DataFrame:
    """`examples` with each unique haplotype's window (column `window`, read by hapexpr.haplotypes.read_windows)."""
    from hapexpr.haplotypes import read_windows

    keys = examples(protocol, split, genes, expression, individuals, haplotype_map)
    used = genes[genes["gene_id"].isin(keys["gene_id"])]
    windows = read_windows(store_paths, used, window, reference_only=protocol == "cross_gene")
    return attach(keys, windows, f"haplotype store {list(store_paths)[:2]}")


def window_batches(per_gene: pd.Series, batch_windows: int) -> list[list[str]]:
    """Consecutive genes (index of `per_gene`: windows per gene) grouped so that each group holds at most
    `batch_windows` windows, or one gene alone when that gene has more."""
    if batch_windows < 1:
        raise ValueError(f"batch_windows must be at least 1, got {batch_windows}")
    batches: list[list[str]] = []
    total = 0
    for gene_id, n in per_gene.items():
        if not batches or total + n > batch_windows:
            batches.append([])
            total = 0
        batches[-1].append(gene_id)
        total += n
    return batches


def predict_store(predict: Callable[[list[str]], np.ndarray], protocols: Sequence[str], genes: pd.DataFrame,
                  store_path: str, map_path: str, window: int, expression: pd.DataFrame | None = None,
                  individuals: pd.DataFrame | None = None, batch_windows: int = 4096) -> pd.DataFrame:
    """The rows of `protocols` for the genes of one chromosome's store: `predict` (windows -> predictions) runs once
    per distinct window of the needed unique haplotypes. Memory is bounded by windows, not genes: consecutive genes
    are read together until they hold `batch_windows` needed windows, and `predict` gets at most `batch_windows` at a
    time (at 3,202 individuals one gene can have thousands of unique windows; benchmarks/README.md, issue 13 item 5)."""
    from hapexpr.haplotypes import read_map, read_windows

    if genes.empty:
        log.warning("%s: no genes of the gene table on this chromosome", store_path)
        return empty_predictions()
    individual = [p for p in protocols if p != "cross_gene"]
    haplotype_map = read_map(map_path, genes["gene_id"]) if individual else None
    need = needed_haplotypes(protocols, genes, individuals, haplotype_map)
    per_gene = need.groupby("gene_id", sort=False).size()
    log.info("%s: %d genes, %d unique haplotype windows to predict (window %d bp)", store_path, len(per_gene),
             len(need), window)
    parts = []
    for batch_genes in window_batches(per_gene, batch_windows):
        batch = need[need["gene_id"].isin(batch_genes)]
        batch = attach(batch, read_windows([store_path], genes[genes["gene_id"].isin(batch_genes)], window),
                       store_path)
        for lo in range(0, len(batch), batch_windows):
            part = batch.iloc[lo : lo + batch_windows]
            # a store built at a longer window holds many haplotypes whose shorter windows are the same: each
            # distinct window is predicted once (a 49-kb store read at 4 kb: 246,017 windows, about 21,000 distinct)
            codes, distinct = pd.factorize(part["window"])
            y_pred = np.asarray(predict(list(distinct)), float)[codes]
            parts.append(part[["gene_id", "hap_id"]].assign(y_pred=y_pred))
    hap_predictions = (pd.concat(parts, ignore_index=True) if parts
                       else pd.DataFrame({"gene_id": pd.Series(dtype=object), "hap_id": pd.Series(dtype=np.int64),
                                          "y_pred": pd.Series(dtype=float)}))
    return prediction_rows(protocols, hap_predictions, genes, expression, individuals, haplotype_map)
