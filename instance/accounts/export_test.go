package accounts

// SetBcryptCost lowers the hashing cost so tests stay fast.
func (s *Service) SetBcryptCost(c int) { s.bcryptCost = c }
