from resviz.gui.training_controls import TrainingControls
from resviz.train.config import TrainConfig


def test_the_window_trains_with_the_models_recipe_unless_told_otherwise(qtbot):
    controls = TrainingControls()
    qtbot.addWidget(controls)
    settings = controls.settings()
    assert settings["optimizer"] is None and settings["lr"] is None and settings["batch_size"] is None
    # The same recipe as 'resviz train': Adam for the demo's nets without norm layers.
    window = TrainConfig(model="resnet20", model_options={"norm": "none"}, **settings).with_recipe()
    command_line = TrainConfig(model="resnet20", model_options={"norm": "none"}).with_recipe()
    assert (window.optimizer, window.lr, window.batch_size) == (command_line.optimizer, command_line.lr,
                                                              command_line.batch_size) == ("adam", 1e-3, 64)
    controls.show_recipe("adam lr 0.001, cosine schedule, batch 64")
    assert "adam lr 0.001" in controls.settings_button.toolTip()
    controls.set_settings({"optimizer": "sgd", "lr": 0.02, "batch_size": 32})
    assert controls.settings()["optimizer"] == "sgd" and controls.settings()["lr"] == 0.02
    assert controls.settings()["batch_size"] == 32
    controls.set_settings({"optimizer": None, "lr": None, "batch_size": None})
    assert controls.settings()["optimizer"] is None and controls.settings()["lr"] is None
