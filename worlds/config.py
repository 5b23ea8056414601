"""Typed settings of the worlds package (the domains)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class TextGameConfig(BaseModel):
    """Where text-game transitions come from and how prompts look."""

    model_config = ConfigDict(extra="forbid")

    train_path: str | None = Field(None, description="Training rows (.jsonl or .zip); unset = the built-in simulator")
    validation_path: str | None = Field(None, description="Validation rows (.jsonl or .zip); unset = the built-in simulator")
    test_path: str | None = Field(None, description="Test rows (.jsonl or .zip); unset = the built-in simulator")
    rules_dir: str | None = Field(None, description="Folder with {object,action,score}_rules.json; unset = the simulator's own rules")
    prompt_style: Literal["full", "state_only"] = Field("full", description="'full' = the paper's prompt with the game rules; 'state_only' = state and action only")
    builtin_games: list[str] | None = Field(None, description="Built-in simulator games to use; unset = all")
    builtin_train_rows: int = Field(2000, ge=1, description="Rows the built-in simulator generates for the train split")
    builtin_validation_rows: int = Field(200, ge=1, description="Rows the built-in simulator generates for the validation split")
    builtin_test_rows: int = Field(300, ge=1, description="Rows the built-in simulator generates for the test split")


class WorldConfig(BaseModel):
    """Which domain to train on, and its settings."""

    model_config = ConfigDict(extra="forbid")

    name: Literal["text_game"] = Field("text_game", description="Registered world (domain) name")
    seed: int = Field(0, description="Seed for generated data and deterministic splits")
    text_game: TextGameConfig = Field(default_factory=TextGameConfig, description="Settings of the text_game world")
