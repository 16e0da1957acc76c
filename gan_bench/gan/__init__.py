"""GAN objectives (losses, penalties) and the train step."""
