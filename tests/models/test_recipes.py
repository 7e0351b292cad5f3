import math

import pytest

from resviz.models import list_models
from resviz.models.recipes import recipe_for
from resviz.train.config import RECIPE_FIELDS, TrainConfig
from resviz.train.trainer import lr_at


def test_every_zoo_model_has_a_recipe_that_fits_its_norm_layers():
    for name in list_models():
        recipe = recipe_for(name)
        assert recipe.optimizer in ("sgd", "adam") and recipe.lr > 0 and recipe.batch_size >= 1
        assert recipe.schedule == "cosine" and recipe.why
        without_norm = recipe_for(name, {"norm": "none"})
        assert without_norm.optimizer == "adam" and without_norm.lr == pytest.approx(1e-3), name


def test_norm_layers_get_he_et_al_sgd_scaled_to_the_batch():
    recipe = recipe_for("resnet20")
    assert (recipe.optimizer, recipe.momentum, recipe.weight_decay) == ("sgd", 0.9, 5e-4)
    assert recipe.lr == pytest.approx(0.1 * recipe.batch_size / 128) and recipe.warmup > 0
    assert recipe_for("resnet20", batch_size=128).lr == pytest.approx(0.1)
    assert recipe_for("resnet18").lr == pytest.approx(0.1 * recipe.batch_size / 256)
    # The seeds' models are trained as the seeds compile them: Adam at 1e-3.
    assert recipe_for("mnist_resnet").optimizer == recipe_for("cifar_small_resnet").optimizer == "adam"
    assert recipe_for("models/net.py:build").optimizer == "adam"


def test_another_optimiser_brings_its_own_settings():
    assert recipe_for("resnet20", optimizer="adam").lr == pytest.approx(1e-3)
    sgd = recipe_for("simple_cnn", optimizer="sgd")
    assert sgd.optimizer == "sgd" and sgd.lr == pytest.approx(0.05)


def test_unset_settings_come_from_the_recipe_and_the_users_win():
    filled = TrainConfig(model="resnet20").with_recipe()
    assert all(getattr(filled, name) is not None for name in RECIPE_FIELDS)
    assert filled.recipe["applied"] == list(RECIPE_FIELDS) and filled.optimizer == "sgd"
    mine = TrainConfig(model="resnet20", lr=0.2, schedule="none", batch_size=32).with_recipe()
    assert (mine.lr, mine.schedule, mine.batch_size) == (0.2, "none", 32)
    assert "lr" not in mine.recipe["applied"] and "momentum" in mine.recipe["applied"]
    assert mine.with_recipe() is mine  # resolving twice changes nothing
    assert TrainConfig.from_dict(mine.to_dict()) == mine  # the run file's copy round-trips


def test_warm_up_then_cosine():
    config = TrainConfig(lr=0.1, schedule="cosine", warmup=0.1)
    rates = [lr_at(config, step, 100) for step in range(100)]
    assert rates[0] == pytest.approx(0.01) and rates[9] == pytest.approx(0.1)
    assert all(a < b for a, b in zip(rates[:9], rates[1:10]))  # rising through the warm-up
    assert all(a >= b for a, b in zip(rates[10:], rates[11:]))  # then falling
    assert rates[-1] < 0.001
    assert lr_at(TrainConfig(lr=0.1, schedule="none", warmup=0.0), 50, 100) == pytest.approx(0.1)
    halfway = 10 + (100 - 10) // 2
    assert lr_at(config, halfway, 100) == pytest.approx(0.1 * 0.5 * (1 + math.cos(math.pi * 0.5)))
