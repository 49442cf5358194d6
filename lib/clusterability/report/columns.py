"""The column catalogue: the names tables are made of (stages, analyses, columns).

The one list of them: :mod:`clusterability.report.tables` computes these columns and
:mod:`clusterability.workflow.experiments` resolves the config's tables against them; the table and
figure jobs need only them, not the config resolution (nor what it imports: training settings,
models). The plot names are beside the plots, in :mod:`clusterability.report.figures`.
"""

from __future__ import annotations

from clusterability.lesions import PAIR_FIELDS, SINGLE_FIELDS

STAGES = ("unpruned", "pruned")
#: Analyses of the lesion experiments (P1 section 4, :mod:`clusterability.lesions`).
LESION_ANALYSES = ("single_lesions", "double_lesions", "lesion_dependencies")
ANALYSES = ("summary", "networks", *LESION_ANALYSES)
#: What a network's lesion experiments cover, narrowest first: its sub-modules alone, and also
#: the pairs of important ones in different layers, or every pair.
LESION_SCOPES = ("single", "important", "all")

#: Columns that say which networks a row is about.
LABEL_COLUMNS = ("family", "dataset", "architecture", "regime", "dropout", "stage", "pruned")
#: How P2 section 4 trained a network (from its metrics): the clusterability regularizer's weight
#: (0: none) and the clusterable initialization's beta (1: none). In a table only when named.
PROMOTION_COLUMNS = ("regularizer_weight", "init_beta")
#: A network's accuracies, losses (regularization included) and, for regression, errors (means in a summary).
#: ``train_*`` are the papers' (Keras' training metrics of the phase's last epoch: dropout on), ``train_*_eval``
#: the same network evaluated on its training images (dropout off); :mod:`clusterability.train.training`.
METRIC_COLUMNS = (
    "train_acc",
    "train_acc_eval",
    "test_acc",
    "train_loss",
    "train_loss_eval",
    "test_loss",
    "train_mse",
    "train_mse_eval",
    "test_mse",
)
#: Columns of a ``summary`` table (one row per family and stage), in their default order.
SUMMARY_COLUMNS = (
    *LABEL_COLUMNS,
    *PROMOTION_COLUMNS,
    "n_networks",
    "n_degenerate",
    "prop_sig",
    *METRIC_COLUMNS,
    "ncut_mean",
    "ncut_std",
    "dist_ncut_mean",
    "dist_ncut_std",
    "mean_dist_mean",
    "mean_dist_std",
    "layer_nonzero_prop_sig",
    "layer_nonzero_dist_ncut_mean",
    "layer_nonzero_dist_ncut_std",
    "cohens_d_mean",
    "unpruned_ncut_mean",
    "unpruned_ncut_std",
    "init_ncut_mean",
    "init_ncut_std",
    "unpruned_init_prop_sig",
    "k",
    "n_shuffles",
)
#: Columns of a ``networks`` table (one row per network and stage), in their default order.
NETWORK_COLUMNS = (
    *LABEL_COLUMNS,
    *PROMOTION_COLUMNS,
    "run",
    "seed",
    *METRIC_COLUMNS,
    "sparsity",
    "k",
    "ncut",
    "degenerate",
    "clustering_seed",
    "n_shuffles",
    "shuffle_mean",
    "shuffle_std",
    "p_value",
    "z_score",
    "significant",
    "layer_nonzero_n_shuffles",
    "layer_nonzero_shuffle_mean",
    "layer_nonzero_shuffle_std",
    "layer_nonzero_p_value",
    "layer_nonzero_z_score",
    "layer_nonzero_significant",
    "cohens_d",
)
_LESION_LABELS = (*LABEL_COLUMNS, "run", "k")
#: A ``single_lesions`` table: one row per sub-module (P1 Table A.18 and figure 5).
SINGLE_LESION_COLUMNS = (*_LESION_LABELS, *SINGLE_FIELDS)
#: A ``double_lesions`` table: one row per pair of sub-modules, X the earlier (P1 Table A.19, figures 6(a), A.6).
DOUBLE_LESION_COLUMNS = (*_LESION_LABELS, *PAIR_FIELDS)
#: A ``lesion_dependencies`` table: the edges of P1's dependency graph (figure 6(b)).
DEPENDENCY_COLUMNS = (*_LESION_LABELS, "source", "target", "why")
COLUMNS = {
    "summary": SUMMARY_COLUMNS,
    "networks": NETWORK_COLUMNS,
    "single_lesions": SINGLE_LESION_COLUMNS,
    "double_lesions": DOUBLE_LESION_COLUMNS,
    "lesion_dependencies": DEPENDENCY_COLUMNS,
}
#: Columns of regression networks only (P2's polynomial MLPs): in a table only when named.
REGRESSION_COLUMNS = {"train_mse", "train_mse_eval", "test_mse"}
#: Columns left out of a table's default columns (its entry names them when it wants them).
OPTIONAL_COLUMNS = REGRESSION_COLUMNS | set(PROMOTION_COLUMNS)
#: Columns that need the clustering of the networks just before pruning.
UNPRUNED_COLUMNS = {"unpruned_ncut_mean", "unpruned_ncut_std", "unpruned_init_prop_sig"}
#: Columns that need a table's ``init_family`` (the freshly initialized networks).
INIT_COLUMNS = {"init_ncut_mean", "init_ncut_std", "unpruned_init_prop_sig"}
#: Columns that need the ``layer_nonzero`` shuffles (and, for Cohen's d, the ``layer`` ones too).
NONZERO_COLUMNS = {c for c in (*SUMMARY_COLUMNS, *NETWORK_COLUMNS) if "layer_nonzero" in c or "cohens_d" in c}
LAYER_COLUMNS = {
    "prop_sig",
    "dist_ncut_mean",
    "dist_ncut_std",
    "mean_dist_mean",
    "mean_dist_std",
    "shuffle_mean",
    "shuffle_std",
    "p_value",
    "z_score",
    "significant",
    "cohens_d",
    "cohens_d_mean",
}
