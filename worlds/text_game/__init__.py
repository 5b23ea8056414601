"""Text-game state prediction (ByteSized32-State-Prediction format) and the built-in simulator."""
