"""A local fine-tune's request becomes model-training data: OpenAI-style hyperparameters
fill only what `training` leaves unset."""

from __future__ import annotations

from jobdeck.inputs import FineTuningData


def test_training_options_win_over_hyperparameters() -> None:
    request = FineTuningData.model_validate(
        {
            "datasetId": "d",
            "baseModel": "tiny-llama",
            "provider": "local",
            "seed": 5,
            "hyperparameters": {"nEpochs": 3, "batchSize": 8, "learningRateMultiplier": 2},
            "training": {"epochs": 2, "lora": {"rank": 4}},
        }
    )
    data = request.as_training()
    assert (data["epochs"], data["batchSize"], data["seed"]) == (2, 8, 5)
    assert data["learningRate"] == 4e-4  # twice the default rate
    assert data["lora"]["rank"] == 4 and data["baseModel"] == "tiny-llama"
    plain = FineTuningData.model_validate(
        {"datasetId": "d", "baseModel": "m", "provider": "local"}
    ).as_training()
    assert (plain["epochs"], plain["batchSize"], plain["learningRate"]) == (1, 4, 2e-4)
