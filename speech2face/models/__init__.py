"""Speech2Face networks: voice encoder, face encoders, face decoder, attribute classifier, loss."""
