"""The contract module: examples per protocol and split, haplotype predictions -> rows, the one status vocabulary."""

import numpy as np
import pandas as pd
import pytest
from hapdata import write_store

from hapexpr import protocols as P


def case():
    """Two training genes, one validation gene, one test gene; individuals of every split; a map where
    T1 is homozygous for hap 1 of G1 and P1/P2 are of the held-out population."""
    genes = pd.DataFrame({
        "gene_id": ["G1", "G2", "V1", "X1"], "chrom": "chr1", "tss": [100, 200, 300, 400], "strand": "+",
        "split": ["train", "train", "valid", "test"], "y_cross_gene": [1.0, np.nan, 2.0, 3.0],
    })
    people = {"T1": "train", "T2": "train", "T3": "train", "V": "valid", "S1": "test", "S2": "test",
              "P1": "test_population", "P2": "test_population", "N": "none"}
    individuals = pd.DataFrame({"individual": list(people), "split": list(people.values())})
    rng = np.random.default_rng(0)
    expression = pd.DataFrame({"gene_id": genes["gene_id"], **{p: rng.normal(size=4) for p in people}})
    expression.loc[expression["gene_id"] == "G2", ["T1", "T2", "T3"]] = 5.0  # constant across training people
    expression.loc[expression["gene_id"] == "G1", "S1"] = np.nan  # a missing target
    rows = []
    for gene in genes["gene_id"]:
        for person in people:
            if person == "S2" and gene == "X1":
                rows.append((gene, person, 1, 1))  # only one haplotype in the store
                continue
            if person == "N":
                continue
            for hap in (1, 2):
                hap_id = 1 if person == "T1" and gene == "G1" else hap - 1
                rows.append((gene, person, hap, hap_id))
    hap_map = pd.DataFrame(rows, columns=["gene_id", "individual", "haplotype", "hap_id"])
    return genes, expression, individuals, hap_map


def hap_predictions(hap_map):
    keys = pd.concat([hap_map[["gene_id", "hap_id"]], pd.DataFrame({"gene_id": ["G1", "G2", "V1", "X1"],
                                                                     "hap_id": 0})]).drop_duplicates()
    return keys.assign(y_pred=[10.0 * i + h for i, h in enumerate(keys["hap_id"])])


def test_each_protocol_has_its_genes_individuals_and_split():
    genes, expression, individuals, hap_map = case()
    rows = P.prediction_rows(P.PROTOCOLS, hap_predictions(hap_map), genes, expression, individuals, hap_map)
    assert list(rows.columns) == P.PREDICTION_COLUMNS
    by = {p: rows[rows["protocol"] == p] for p in P.PROTOCOLS}
    cg = by["cross_gene"].set_index("gene_id")
    assert set(cg.index) == {"G1", "G2", "V1", "X1"} and set(cg["individual"]) == {"reference"}
    assert cg.loc["V1", "split"] == "valid" and cg.loc["X1", "split"] == "test"
    ci = by["cross_individual"]
    assert set(ci["gene_id"]) == {"G1", "G2"}
    assert set(ci["individual"]) == {"T1", "T2", "T3", "V", "S1", "S2"}
    assert dict(zip(ci["individual"], ci["split"]))["V"] == "valid"
    cp = by["cross_population"]
    assert set(cp["gene_id"]) == {"G1", "G2"} and set(cp["individual"]) == {"P1", "P2"}
    assert set(cp["split"]) == {"test"}
    ug = by["unseen_gene_individual"]
    assert set(ug["gene_id"]) == {"X1"} and set(ug["individual"]) == {"S1", "S2"} and set(ug["split"]) == {"test"}
    assert "N" not in set(rows["individual"])
    assert set(rows["status"]) <= set(P.STATUSES)


def test_diploid_mean_statuses_and_constant_genes():
    genes, expression, individuals, hap_map = case()
    preds = hap_predictions(hap_map)
    rows = P.prediction_rows(P.PROTOCOLS, preds, genes, expression, individuals, hap_map)
    got = rows.set_index(["protocol", "gene_id", "individual"])
    value = dict(zip(zip(preds["gene_id"], preds["hap_id"]), preds["y_pred"]))
    ok = got.loc[("cross_individual", "G1", "T2")]
    assert ok["status"] == P.OK and ok["y_pred"] == pytest.approx((value["G1", 0] + value["G1", 1]) / 2)
    assert got.loc[("cross_individual", "G1", "T1"), "y_pred"] == pytest.approx(value["G1", 1])  # homozygous
    assert got.loc[("cross_individual", "G1", "S1"), "status"] == P.NO_TARGET
    assert got.loc[("unseen_gene_individual", "X1", "S2"), "status"] == P.NO_HAPLOTYPES  # one haplotype only
    for protocol, person in (("cross_individual", "S1"), ("cross_population", "P1")):
        assert got.loc[(protocol, "G2", person), "status"] == P.CONSTANT_EXPRESSION
    assert got.loc[("cross_gene", "G2", "reference"), "status"] == P.NO_TARGET
    assert rows.loc[rows["status"] != P.OK, "y_pred"].isna().all()
    assert np.isfinite(rows.loc[rows["status"] == P.OK, "y_pred"]).all()


def test_a_mapped_haplotype_without_prediction_is_an_error_not_a_nan():
    genes, expression, individuals, hap_map = case()
    preds = hap_predictions(hap_map)
    preds = preds[~((preds["gene_id"] == "G1") & (preds["hap_id"] == 1))]
    with pytest.raises(ValueError, match="gene G1, hap_id 1"):
        P.prediction_rows(["cross_individual"], preds, genes, expression, individuals, hap_map)


def test_individual_missing_from_the_map_is_skipped_no_haplotypes():
    genes, expression, individuals, hap_map = case()
    hap_map = hap_map[hap_map["individual"] != "T3"]
    rows = P.prediction_rows(["cross_individual"], hap_predictions(hap_map), genes, expression, individuals, hap_map)
    assert set(rows.loc[(rows["individual"] == "T3") & (rows["gene_id"] == "G1"), "status"]) == {P.NO_HAPLOTYPES}


def test_cross_individual_examples_are_unique_haplotypes_weighted_by_copies():
    genes, expression, individuals, hap_map = case()
    train = P.examples("cross_individual", "train", genes, expression, individuals, hap_map)
    assert list(train.columns) == P.EXAMPLE_COLUMNS
    assert set(train["gene_id"]) == {"G1", "G2"}  # training genes only, never valid or test genes
    g1 = train[train["gene_id"] == "G1"].set_index("hap_id")
    y = expression.set_index("gene_id").loc["G1"]
    # T1 carries hap 1 twice; T2 and T3 carry hap 0 and hap 1 once each
    assert g1.loc[1, "weight"] == 4 and g1.loc[0, "weight"] == 2
    assert g1.loc[1, "y"] == pytest.approx((2 * y["T1"] + y["T2"] + y["T3"]) / 4)
    # weighted MSE over unique haplotypes = MSE over every individual-haplotype copy
    assert train["weight"].sum() == 2 * 3 * 2
    valid = P.examples("cross_individual", "valid", genes, expression, individuals, hap_map)
    assert set(valid["gene_id"]) == {"G1", "G2"} and valid["weight"].sum() == 4


def test_cross_gene_examples_are_reference_windows_with_a_target():
    genes, *_ = case()
    train = P.examples("cross_gene", "train", genes)
    assert train["gene_id"].tolist() == ["G1"] and train["hap_id"].tolist() == [0]  # G2 has no target
    assert P.examples("cross_gene", "valid", genes)["gene_id"].tolist() == ["V1"]


def test_empty_validation_split_gives_empty_examples_with_the_columns():
    genes, expression, individuals, hap_map = case()
    genes = genes.assign(split=genes["split"].replace("valid", "train"))
    individuals = individuals.assign(split=individuals["split"].replace("valid", "train"))
    for protocol in P.TRAINED_PROTOCOLS:
        valid = P.examples(protocol, "valid", genes, expression, individuals, hap_map)
        assert valid.empty and list(valid.columns) == P.EXAMPLE_COLUMNS
    rows = P.prediction_rows(P.PROTOCOLS, hap_predictions(hap_map), genes, expression, individuals, hap_map)
    assert "valid" not in set(rows["split"])


def test_needed_haplotypes_cover_the_rows_and_nothing_else():
    genes, expression, individuals, hap_map = case()
    need = P.needed_haplotypes(["cross_gene"], genes, individuals, hap_map)
    assert set(need["hap_id"]) == {0} and len(need) == 4
    need = P.needed_haplotypes(P.row_protocols("cross_individual"), genes, individuals, hap_map)
    assert "V1" not in set(need["gene_id"])  # validation genes are in no individual protocol
    assert not need.duplicated().any()
    rows = P.prediction_rows(P.row_protocols("cross_individual"), need.assign(y_pred=1.0), genes, expression,
                             individuals, hap_map)
    assert set(rows["protocol"]) == set(P.INDIVIDUAL_PROTOCOLS)


def test_row_protocols_of_the_two_trained_models():
    assert P.row_protocols("cross_gene") == ["cross_gene"]
    assert P.row_protocols("cross_individual") == list(P.INDIVIDUAL_PROTOCOLS)
    with pytest.raises(ValueError, match="unknown protocol"):
        P.row_protocols("cross_population")


def test_gene_status_of_a_model_must_come_from_the_vocabulary():
    genes, expression, individuals, _ = case()
    diploid = pd.DataFrame({"gene_id": ["G1"], "individual": ["T2"], "y_pred": [0.0]})
    rows = P.individual_rows("cross_individual", diploid, genes, expression, individuals, {"G1": P.NO_CIS_VARIANTS})
    assert set(rows.loc[rows["gene_id"] == "G1", "status"]) <= {P.NO_CIS_VARIANTS, P.NO_TARGET}
    with pytest.raises(ValueError, match="STATUSES"):
        P.individual_rows("cross_individual", diploid, genes, expression, individuals, {"G1": "skipped: tired"})


def test_predict_store_predicts_each_needed_window_once(tmp_path):
    genes, expression, individuals, hap_map = case()
    seqs = []
    for gene in genes["gene_id"]:
        for hap_id in sorted(set(hap_map.loc[hap_map["gene_id"] == gene, "hap_id"]) | {0}):
            seqs.append((gene, hap_id, "ACGT" * 4 + "A" * hap_id, 8))
    sequences = pd.DataFrame(seqs, columns=["gene_id", "hap_id", "sequence", "tss_offset"])
    paths = write_store(tmp_path, "chr1", sequences, hap_map, 16)
    calls = []

    def predict(windows):
        calls.append(list(windows))
        return np.array([w.count("A") for w in windows], dtype=float)

    rows = P.predict_store(predict, P.PROTOCOLS, genes, paths["sequences"], paths["map"], 12, expression,
                           individuals)
    need = P.needed_haplotypes(P.PROTOCOLS, genes, individuals, hap_map)
    # each distinct window predicted once (here the haplotypes differ only after the 12-bp window)
    assert sum(len(c) for c in calls) == 1 < len(need)
    assert set(rows["protocol"]) == set(P.PROTOCOLS)
    assert all(len(w) == 12 for c in calls for w in c)
    # memory is bounded by windows: at most batch_windows per call, the same rows
    calls.clear()
    small = P.predict_store(predict, P.PROTOCOLS, genes, paths["sequences"], paths["map"], 12, expression,
                            individuals, batch_windows=2)
    assert max(len(c) for c in calls) <= 2
    pd.testing.assert_frame_equal(small, rows)
    # haplotypes that differ inside the window get their own predictions; equal windows share one
    sequences["sequence"] = ["ACGTACGT" + "ACGT"[h % 4] + "ACGTACG" for h in sequences["hap_id"]]
    paths = write_store(tmp_path / "differ", "chr1", sequences, hap_map, 16)
    calls.clear()
    rows = P.predict_store(predict, P.PROTOCOLS, genes, paths["sequences"], paths["map"], 12, expression,
                           individuals)
    predicted = [w for c in calls for w in c]
    assert len(predicted) == len(set(predicted))
    assert sum(len(c) for c in calls) == len({h % 4 for h in need["hap_id"]}) < len(need)
    assert rows["y_pred"].nunique() > 1
    with pytest.raises(ValueError, match="built at 16 bp"):
        P.predict_store(predict, ["cross_gene"], genes, paths["sequences"], paths["map"], 32)


def test_window_batches_group_consecutive_genes_up_to_the_window_budget():
    per_gene = pd.Series({"G1": 3, "G2": 2, "G3": 7, "G4": 1, "G5": 1})
    assert P.window_batches(per_gene, 5) == [["G1", "G2"], ["G3"], ["G4", "G5"]]
    assert P.window_batches(per_gene, 100) == [["G1", "G2", "G3", "G4", "G5"]]
    assert P.window_batches(per_gene.iloc[:0], 5) == []
    with pytest.raises(ValueError, match="at least 1"):
        P.window_batches(per_gene, 0)


def test_a_chromosome_without_training_genes_gives_empty_individual_rows():
    genes, expression, individuals, _ = case()
    no_predictions = pd.DataFrame({"gene_id": [], "individual": [], "y_pred": []})  # float columns when empty
    rows = P.individual_rows("cross_individual", no_predictions, genes[genes["split"] == "test"], expression,
                             individuals)
    assert rows.empty and list(rows.columns) == P.PREDICTION_COLUMNS
