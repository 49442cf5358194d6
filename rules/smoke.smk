# The smoke run: every rule and every plot kind once, in about 60 jobs (make test-fast), with
# --configfile config/scales/smoke.yaml, which restricts these tables to one or two networks (at
# another scale, the same tables with all their networks). tests/test_smoke.py checks that these
# targets reach every rule and every plot kind.

# The analyses and shuffle methods of P1 and P2: networks, both stages, both shuffles, init n-cuts,
# lesions.
SMOKE_TABLES = [
    "table1_networks",
    "init_networks",
    "topology_networks",
    "tableA18",
    "tableA19",
    "lesion_pairs",
    "lesion_dependencies",
    "p2/mlp_networks",
]
# One figure per plot kind (clusterability.report.figures: PLOTS, DATASET_PLOTS, NETWORK_PLOTS).
SMOKE_FIGURES = [
    "fig1_network",
    "fig2_ncut_vs_accuracy",
    "fig3_init_ncuts",
    "fig4_topology",
    "figA1_cohens_d",
    "figA3_violins",
    "fig5_lesions",
    "fig6a_conditional_importance",
    "fig6b_dependency_graph",
    "figA6_lesion_pairs",
    "p2/fig2_regularization_unpruned",
    "p2/fig4_halves_samples",
]

# An ImageNet model, imported (randomly initialized at this scale) but not clustered: clustering its
# 4,800 channels takes minutes.
SMOKE_IMPORTED = "imagenet_resnet18"
# Trained by rule train_networks (the smoke scale's small CNNs: several networks per job).
SMOKE_BATCHED = "mnist_cnn_plain"


rule smoke:
    input:
        table_files(SMOKE_TABLES),
        figure_files(SMOKE_FIGURES),
        f"{network_dir(SMOKE_IMPORTED, 0)}/metrics.json",
        f"{network_dir(SMOKE_BATCHED, 0)}/metrics.json",
        "results/scorecard.csv",
