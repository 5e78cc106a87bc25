"""Semi-supervised GAN vs. a supervised baseline with 100 labels (Dogs vs. Cats), as a DVC pipeline."""
